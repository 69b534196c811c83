"""The serialized fast path of scan_json finds exactly what walking the value finds."""

from __future__ import annotations

import base64
import json
import random
from urllib.parse import quote

import pytest

from mcpwarden.detect import Engine, HoneyToken, Redactor, jsonbytes
from mcpwarden.detect.jsonbytes import keyword_safe, scan_serialized, serialize
from mcpwarden.detect.jsonscan import scan_json as walk
from mcpwarden.detect.rule import rule_from_table

from .conftest import AWS_KEY_ID, EXAMPLE_RULES, GITHUB_PAT, JWT, needs_hyperscan
from .test_engine import mixed_corpus

pytestmark = needs_hyperscan

CANARY = HoneyToken("billing", "AKIAZZZZCANARY234567", "aws")


def _key(f):
    return (f.path, f.start, f.end, f.rule_id, f.tier, f.fingerprint, f.encoding)


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(extra=[EXAMPLE_RULES], honeytokens=[CANARY], key=b"k" * 32)


@pytest.fixture
def always_serialized(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jsonbytes, "MANY_STRINGS", 0)


def _same(engine: Engine, obj: object) -> list:
    data = serialize(obj)
    assert data is not None
    fast = scan_serialized(engine, obj, data)
    assert fast is not None
    slow = walk(engine, obj)
    assert sorted(fast, key=_key) == sorted(slow, key=_key)
    return fast


def _tricky_values(rng: random.Random) -> list:
    pem_body = "MC4CAQAwBQYDK2VwBCIEIHm4qS1mQ1ryhbxUr7h1a9cS0eI9LgJ8yC2Vw1Dk8Qg4"
    return [
        f"é {GITHUB_PAT}",
        f"token \u00e9\u4e2d {GITHUB_PAT} tail",
        f"-----BEGIN PRIVATE KEY-----\n{pem_body}\n-----END PRIVATE KEY-----\n",
        "\\u0041KIAQ3EGRWZ5T4LMNBVC escaped in the text",
        json.dumps({"t": GITHUB_PAT}).replace("g", "\\u0067"),
        'quote " and backslash \\ then ' + AWS_KEY_ID,
        base64.b64encode(f"export GITHUB_TOKEN={GITHUB_PAT}\n".encode()).decode(),
        quote(f"token={GITHUB_PAT}", safe=""),
        f"Authorization: Bearer {JWT}",
        f"canary {CANARY.value} inside",
        "password: hunter2-Xk92!pq#zz",
        "contact jane.roe@corp-mail.io or +44 20 7946 0958",
        "card 4111 1111 1111 1111",
        4111111111111111,
        rng.random(),
        1e300,
        -7,
        True,
        None,
        "token_count: 1234",
        "",
        "\t\n\r\x01 control characters " + AWS_KEY_ID,
    ]


def _random_value(rng: random.Random, values: list, depth: int = 0) -> object:
    roll = rng.random()
    if depth > 4 or roll < 0.4:
        return rng.choice(values)
    if roll < 0.7:
        return [_random_value(rng, values, depth + 1) for _ in range(rng.randrange(6))]
    keys = ["token", "password", "api_key", "name", "n", "odd key", 'q"uote', "back\\slash", AWS_KEY_ID, "é"]
    return {rng.choice(keys) + str(i): _random_value(rng, values, depth + 1) for i in range(rng.randrange(6))}


def test_random_values_agree_with_the_walk(engine: Engine) -> None:
    rng = random.Random(11)
    values = _tricky_values(rng) + mixed_corpus(seed=3).split("\n")[:300]
    total = 0
    for _ in range(150):
        total += len(_same(engine, _random_value(rng, values)))
    assert total > 100


def _long_text(rng: random.Random, size: int, values: list) -> str:
    """About ``size`` characters of corpus lines, with escapes and tricky values mixed in."""
    parts: list[str] = []
    total = 0
    while total < size:
        piece = str(rng.choice(values))
        parts.append(piece)
        total += len(piece) + 1
    return "\n".join(parts)


def test_long_strings_agree_with_the_walk(engine: Engine) -> None:
    # Strings over LONG_STRING are selected whole without a first look; around them sit
    # members whose keys and values hold places, and strings without any.
    rng = random.Random(5)
    values = _tricky_values(rng) + mixed_corpus(seed=4).split("\n")[:400]
    quiet = "plain words only " * 4000
    size = jsonbytes.LONG_STRING + 9000
    obj = {
        "head": _long_text(rng, size, values),
        "rows": [{"id": i, "token": f"t{i}", "v": rng.choice(values)} for i in range(1500)],
        "quiet": quiet,
        "api_key": f'"quoted" {GITHUB_PAT} ' + quiet,
        "plain": quiet + f" {GITHUB_PAT} {AWS_KEY_ID} " + quiet,  # no escape to draw a look
        _long_text(rng, size, values): "a long key",
        "list": [quiet, _long_text(rng, size, values), 7, {"password": quiet + " hunter2-Xk92!pq#zz"}],
        "tail": _long_text(rng, size, values),
    }
    data = serialize(obj)
    assert data is not None
    strings = jsonbytes._Strings(jsonbytes._Units(data).delims)
    assert len(strings.long_strings(jsonbytes.LONG_STRING // 4096)) >= 6
    found = _same(engine, obj)
    paths = {f.path for f in found}
    assert {"$.head", "$.api_key", "$.plain", "$.tail", "$.list[1]"} <= paths
    assert any(p.endswith("#key") for p in paths)


def test_long_strings_are_found_by_quote_parity() -> None:
    body = 'x\\"y\\\\' * 20_000  # escaped quotes and escaped backslashes inside
    obj = {"a": "s", "long": body, "b": ["t", body + '"'], "c": "u"}
    data = serialize(obj)
    assert data is not None
    delims = jsonbytes._Units(data).delims
    spans = jsonbytes._Strings(delims).long_strings(8)
    assert [json.loads(data[s:e]) for s, e in spans] == [body, body + '"']


def test_both_ways_of_masking_escapes_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(8)
    alphabet = ['"', "\\", "\\\\", 'a"', "\\n", "x", "é", "\u2028", "/"]
    for _ in range(300):
        value = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(rng.randrange(1, 6))]
        data = serialize({"k": value, '"q\\': "\\" * rng.randrange(5)})
        assert data is not None
        by_regex = jsonbytes._ESCAPED_QUOTE_OR_BACKSLASH.sub(b"\x01\x01", data)
        monkeypatch.setattr(jsonbytes, "DENSE_ESCAPES", 10**9)
        assert jsonbytes._mask_escapes(data) == by_regex
        monkeypatch.setattr(jsonbytes, "DENSE_ESCAPES", -1)
        assert jsonbytes._mask_escapes(data) == by_regex
        # Only the quotes that delimit strings are left.
        strings = json.loads(data)["k"]
        assert by_regex.count(b'"') == 2 * (len(strings) + 2 + 1)


def test_quote_counts_after_masking_match_a_fresh_count() -> None:
    for shift in range(4080, 4100):  # escapes straddling the first block boundary
        value = "a" * shift + '"' + "c" * 5000 + '\\"'
        data = serialize({"k": value, "n": ['"'] * 3})
        assert data is not None
        delims = jsonbytes._mask_escapes(data)
        fresh = jsonbytes._Strings(delims).prefix
        assert jsonbytes._Strings(data).masked(delims, data).prefix == fresh
        assert fresh[-1] == 12


def test_string_around_an_offset_in_any_order() -> None:
    rng = random.Random(12)
    obj = [{"k": "v" * rng.randrange(3000), "n": rng.randrange(99), "q": 'a"b'} for _ in range(60)]
    data = serialize(obj)
    assert data is not None
    delims = jsonbytes._mask_escapes(data)
    strings = jsonbytes._Strings(delims)
    offsets = sorted(rng.sample(range(len(data)), 400)) + rng.sample(range(len(data)), 400)
    for p in offsets:  # ascending first (the cursor is used), then random
        quotes = delims.count(b'"', 0, p)
        expected = (delims.rfind(b'"', 0, p), delims.find(b'"', p) + 1) if quotes & 1 else None
        assert strings.around(p) == expected


def test_stringified_json_is_found_with_escapes_masked_by_replace(engine: Engine) -> None:
    rows = [{"id": i, "owner": f"user{i}", "note": "ok"} for i in range(3000)]
    rows[1234]["note"] = f"key {GITHUB_PAT}"
    obj = {"content": [{"type": "text", "text": json.dumps({"rows": rows})}], "n": list(map(str, range(3000)))}
    found = _same(engine, obj)
    assert [(f.rule_id, f.path) for f in found] == [("github-pat-classic", "$.content[0].text")]


def test_secret_keys_are_masked_by_position(engine: Engine) -> None:
    found = _same(engine, {"a": 1, AWS_KEY_ID: {"inner": GITHUB_PAT}})
    paths = {f.path for f in found}
    assert "$.{key#1}#key" in paths
    assert "$.{key#1}.inner" in paths
    assert all(AWS_KEY_ID not in p for p in paths)


def test_large_rows_with_one_secret(engine: Engine) -> None:
    rows = [{"id": i, "name": f"row {i}", "price": i / 7, "tags": ["a", "b"]} for i in range(20_000)]
    rows[12_345]["note"] = f"rotated {GITHUB_PAT}"
    obj = {"structuredContent": {"rows": rows}}
    found = _same(engine, obj)
    assert [(f.rule_id, f.path) for f in found] == [("github-pat-classic", "$.structuredContent.rows[12345].note")]
    redacted = Redactor().redact_json(obj, found)
    assert GITHUB_PAT not in json.dumps(redacted)
    assert redacted["structuredContent"]["rows"][12_344] is rows[12_344]
    assert len(redacted["structuredContent"]["rows"]) == len(rows)


def test_engine_uses_the_fast_path_for_many_strings(engine: Engine) -> None:
    rows = [{"id": i, "owner": f"user{i}", "status": "ok"} for i in range(5000)]
    rows[4321]["owner"] = GITHUB_PAT
    data = serialize({"rows": rows})
    assert data is not None and data.count(b'"') >= jsonbytes.MANY_STRINGS
    assert [f.path for f in engine.scan_json({"rows": rows})] == ["$.rows[4321].owner"]


def test_values_of_long_strings_are_walked(engine: Engine) -> None:
    # Many quotes, but 300-byte strings (or stringified JSON in one string): walking costs less.
    lines = {"lines": [f"line {i} " + "x" * 300 for i in range(3000)]}
    lines["lines"][2999] += " " + GITHUB_PAT
    text = {"text": json.dumps([{"k": str(i)} for i in range(3000)])}
    rows = {"rows": [{"id": i, "v": f"v{i}"} for i in range(3000)]}
    for obj, walked in ((lines, True), (text, True), (rows, False)):
        data = serialize(obj)
        assert data is not None and data.count(b'"') >= jsonbytes.MANY_STRINGS
        assert (scan_serialized(engine, obj, data, jsonbytes.MANY_STRINGS) is None) == walked
    assert [f.path for f in engine.scan_json(lines)] == ["$.lines[2999]"]


@pytest.mark.usefixtures("always_serialized")
@pytest.mark.parametrize(
    "obj",
    [
        {1: GITHUB_PAT},  # non-string key
        {"k": "\ud800 lone surrogate " + GITHUB_PAT},
        {"k": 10**30, "t": GITHUB_PAT},  # an integer orjson cannot write
    ],
)
def test_values_orjson_cannot_write_are_walked(engine: Engine, obj: dict) -> None:
    assert serialize(obj) is None
    assert any(f.rule_id == "github-pat-classic" for f in engine.scan_json(obj))


@pytest.mark.usefixtures("always_serialized")
def test_nesting_deeper_than_orjson_allows_is_walked(engine: Engine) -> None:
    obj: object = {"t": GITHUB_PAT}
    for _ in range(300):
        obj = [obj]
    assert serialize(obj) is None
    assert [f.rule_id for f in engine.scan_json(obj)] == ["github-pat-classic"]


def test_keyword_safety() -> None:
    assert keyword_safe(b"token")
    assert keyword_safe(b'"auth"')
    assert keyword_safe(b'tel"')
    assert keyword_safe(b"kind: secret")
    assert not keyword_safe(b'a"b')
    assert not keyword_safe(b"a\\b")
    assert not keyword_safe(b"\n")
    assert not keyword_safe(b": ")


def test_an_unsafe_keyword_turns_the_fast_path_off() -> None:
    table = {
        "id": "odd-keyword",
        "description": "a keyword with an inner quote",
        "family": "test",
        "severity": "high",
        "keywords": ['x"y'],
        "regex": r'x"y[0-9]{8}',
        "examples": {"match": ['x"y12345678'], "no_match": ["xy12345678"]},
    }
    rule = rule_from_table(table, "test")
    engine = Engine([rule])
    assert not engine.json_bytes_safe
    assert [f.rule_id for f in engine.scan_json(["a", 'x"y12345678'] * 3000)] == ["odd-keyword"] * 3000


def test_keywords_from_one_pass_find_what_the_search_near_match_ends_finds(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcpwarden.detect import engine as engine_module

    text = mixed_corpus(seed=9) + "\n" + "\n".join(str(v) for v in _tricky_values(random.Random(2)))
    monkeypatch.setattr(engine_module, "FIND_IN_RANGES", 10**9)
    monkeypatch.setattr(engine_module, "LOWER_WHOLE", 0)
    in_whole = engine.scan_text(text)
    monkeypatch.setattr(engine_module, "LOWER_WHOLE", 10**9)
    in_ranges = engine.scan_text(text)
    monkeypatch.setattr(engine_module, "FIND_IN_RANGES", 0)
    one_pass = engine.scan_text(text)
    assert len(in_whole) > 20
    assert sorted(map(_key, one_pass)) == sorted(map(_key, in_whole)) == sorted(map(_key, in_ranges))


def test_paths_of_many_findings_in_long_lists(engine: Engine) -> None:
    rows: list = [{"id": i, "name": f"row {i}"} for i in range(5000)]
    marked = [0, 63, 64, 65, 157, 2500, 4998, 4999]
    for i in marked:
        rows[i]["note"] = f"rotated {GITHUB_PAT}"
    rows[300] = [["x", {"deep": f"token {GITHUB_PAT}"}]]
    found = _same(engine, {"rows": rows, "tail": [*range(200), GITHUB_PAT]})
    paths = sorted(f.path for f in found if f.rule_id == "github-pat-classic")
    expected = [f"$.rows[{i}].note" for i in marked] + ["$.rows[300][0][1].deep", "$.tail[200]"]
    assert paths == sorted(expected)
