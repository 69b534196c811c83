"""Bad input: binary, invalid UTF-8, a 100 MB single line, deep JSON, pathological regex
input. Bounded time, no crash. Limits are generous for a 2-core CI machine."""

from __future__ import annotations

import os
import random
import time

import pytest

from mcpwarden.detect import Engine, Redactor
from mcpwarden.detect.rule import rule_from_table

from .conftest import GITHUB_PAT


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def test_random_binary_and_invalid_utf8(builtin_engine: Engine) -> None:
    data = random.Random(5).randbytes(4 * 1024 * 1024)
    found, elapsed = timed(builtin_engine.scan_bytes, data)
    assert elapsed < 20
    assert isinstance(found, list)
    broken = b"\xff\xfe token=" + GITHUB_PAT.encode() + b" \xc3\x28 \xed\xa0\x80"
    assert any(f.rule_id == "github-pat-classic" for f in builtin_engine.scan_bytes(broken))
    text = broken.decode("utf-8", "surrogateescape")
    assert any(f.rule_id == "github-pat-classic" for f in builtin_engine.scan_text(text))


def test_lone_surrogates_in_json_strings(builtin_engine: Engine) -> None:
    obj = {"a": "\ud800 " + GITHUB_PAT, "\udfff": 1}
    found = builtin_engine.scan_json(obj)
    assert [f.path for f in found if f.rule_id == "github-pat-classic"] == ["$.a"]
    assert "[REDACTED:" in Redactor().redact_json(obj, found)["a"]


@pytest.mark.timeout(120)
def test_100_mb_single_line(builtin_engine: Engine) -> None:
    line = (b"abcdefghij" * 10_000_000) + b" " + GITHUB_PAT.encode()
    assert len(line) > 100_000_000
    found, elapsed = timed(builtin_engine.scan_bytes, line)
    assert [f.rule_id for f in found] == ["github-pat-classic"]
    assert elapsed < 60, f"100 MB line took {elapsed:.1f} s"


def test_deeply_nested_json(builtin_engine: Engine) -> None:
    obj: object = GITHUB_PAT
    for i in range(100_000):
        obj = [obj] if i % 2 else {"k": obj}
    found, elapsed = timed(builtin_engine.scan_json, obj)
    assert elapsed < 30
    assert [f.rule_id for f in found] == ["github-pat-classic"]
    assert found[0].path is not None and found[0].path.count("[") + found[0].path.count(".") <= 300
    node = Redactor().redact_json(obj, found)
    for _ in range(300):
        if isinstance(node, list):
            node = node[0]
        elif isinstance(node, dict):
            node = node["k"]
    assert isinstance(node, str) and node.startswith("[REDACTED:github-pat-classic:")


def test_many_keyword_hits_stay_linear(builtin_engine: Engine) -> None:
    small = b"token=" * 20_000
    big = b"token=" * 200_000
    _, t_small = timed(builtin_engine.scan_bytes, small)
    _, t_big = timed(builtin_engine.scan_bytes, big)
    assert t_big < 30
    assert t_big < 40 * max(t_small, 0.01), f"10x input took {t_big / max(t_small, 1e-3):.0f}x the time"


ADVERSARIAL = [
    b"password" + b"=" * 50_000,
    b"secret: '" + b"a" * 100_000,
    b"-----BEGIN RSA PRIVATE KEY-----\n" + b"A" * 200_000,
    b"api_key" + b" " * 100_000 + b"=",
    b"eyJ" + b"A" * 100_000 + b"." + b"eyJ" + b"B" * 100_000,
    b"postgres://" + b"u:" * 50_000 + b"@",
    b"https://" + b"a" * 50_000 + b":" + b"b" * 50_000 + b"@",
    (b"AKIA" + b"2" * 16 + b"x") * 20_000,
    b"%41" * 100_000,
    b"\\u0041" * 50_000,
    b"a@" * 100_000,
]


@pytest.mark.parametrize("regex", ["re", "hybrid"])
@pytest.mark.parametrize("payload", ADVERSARIAL, ids=lambda p: p[:12].decode("latin-1"))
def test_adversarial_inputs_finish_quickly(payload: bytes, regex: str) -> None:
    if regex == "hybrid":
        pytest.importorskip("re2")
    engine = _engine(regex)
    _, elapsed = timed(engine.scan_bytes, payload)
    assert elapsed < 15, f"{payload[:20]!r}: {elapsed:.1f} s"


_ENGINES: dict[str, Engine] = {}


def _engine(regex: str) -> Engine:
    if regex not in _ENGINES:
        _ENGINES[regex] = Engine.load(regex=regex)
    return _ENGINES[regex]


def test_catastrophic_patterns_are_refused_at_load() -> None:
    table = {
        "id": "evil",
        "description": "d",
        "family": "x",
        "severity": "low",
        "keywords": ["a"],
        "regex": "(a+)+$",
        "examples": {"match": ["a"]},
    }
    with pytest.raises(Exception, match="nests unbounded repetition"):
        rule_from_table(table, "evil.toml")


def test_urandom_text_through_json(builtin_engine: Engine) -> None:
    noise = os.urandom(256 * 1024).decode("latin-1")
    found, elapsed = timed(builtin_engine.scan_json, {"content": [{"type": "text", "text": noise}]})
    assert elapsed < 20 and isinstance(found, list)
