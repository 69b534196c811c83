"""``Engine.clean_json_line``: a line it calls clean holds nothing ``scan_json`` would find.

The gateway skips the walk of a message whose line is clean, so a wrong "clean" would let a
secret through: every case here checks the claim against a real scan of the parsed value.
"""

from __future__ import annotations

import json
import random

import orjson
import pytest

from mcpwarden.detect import Engine, HoneyToken

from .conftest import AWS_KEY_ID, EXAMPLE_RULES, GITHUB_PAT, needs_hyperscan
from .test_engine import mixed_corpus
from .test_jsonbytes import _random_value, _tricky_values

pytestmark = needs_hyperscan

CANARY = HoneyToken("billing", "AKIAZZZZCANARY234567", "aws")


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(extra=[EXAMPLE_RULES], honeytokens=[CANARY], key=b"k" * 32)


def _lines(value: object) -> list[bytes]:
    """The ways a peer may write ``value``: compact, spaced, indented, ASCII-escaped."""
    return [
        orjson.dumps(value),
        json.dumps(value, ensure_ascii=False).encode(),
        json.dumps(value, ensure_ascii=False, indent=1).encode(),
        json.dumps(value).encode(),
    ]


def _claims_hold(engine: Engine, value: object) -> int:
    """Asserts the claim for each way of writing ``value``; returns how often it was clean."""
    found = engine.scan_json(value)
    clean = 0
    for line in _lines(value):
        if engine.clean_json_line(line):
            clean += 1
            assert found == [], f"a line with findings was called clean: {[f.rule_id for f in found]}"
    return clean


def test_random_values_never_called_clean_when_they_hold_findings(engine: Engine) -> None:
    rng = random.Random(21)
    values = _tricky_values(rng) + mixed_corpus(seed=4).split("\n")[:300]
    clean = dirty = 0
    for _ in range(400):
        value = _random_value(rng, values)
        clean += _claims_hold(engine, value)
        dirty += bool(engine.scan_json(value))
    assert clean > 50 and dirty > 50  # both kinds were exercised


@pytest.mark.parametrize(
    "value",
    [
        {"text": GITHUB_PAT},
        {"canary": CANARY.value.lower()},
        {"escaped": "\\u0041KIAQ3EGRWZ5T4LMNBVC"},
        {"n": 1e21},
        {"n": 999.99999999999999999},
        {"n": 100000000000000000000},
        {"phone": "+44 20 7946 0958"},
        {"url": "https://x.example/?t=%67hp_u8jzPde0IgxLd6GncfBAepfJBd0Kh8024xXH"},
        {AWS_KEY_ID: 1},
    ],
)
def test_lines_with_something_to_scan_are_not_clean(engine: Engine, value: object) -> None:
    assert not engine.clean_json_line(json.dumps(value).encode())


def test_float_text_makes_a_line_unclean_only_where_a_float_could_matter(engine: Engine) -> None:
    # 1E3 parses to 1000.0, whose repr holds the keyword "1000." that the line does not.
    assert not engine.clean_json_line(b'{"a":[1E3]}')
    assert not engine.clean_json_line(b'{"a": 100000000000000000000}')
    # A version string is not a number: the JSON-RPC envelope itself stays clean.
    assert engine.clean_json_line(b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"ok"}]}}')


def test_typical_messages_are_clean(engine: Engine) -> None:
    call = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "hi"}}}
    result = {"jsonrpc": "2.0", "id": 3, "result": {"content": [{"type": "text", "text": "x" * 100_000}]}}
    assert engine.clean_json_line(orjson.dumps(call))
    assert engine.clean_json_line(bytearray(orjson.dumps(result)))  # lines that spanned reads are bytearrays


def test_python_gate_never_claims_clean() -> None:
    engine = Engine.load(extra=[EXAMPLE_RULES], gate="python")
    assert not engine.clean_json_line(b'{"a":"b"}')
