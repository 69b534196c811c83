"""The engine: both keyword gates and both regex engines agree, offsets, JSON paths, decoding,
placeholders, overlap resolution, and that no finding ever carries the secret."""

from __future__ import annotations

import base64
import binascii
import json
import random
from urllib.parse import quote

import pytest

from mcpwarden.detect import Engine, HoneyToken
from mcpwarden.detect.prefilter import find_all
from mcpwarden.detect.ruleset import builtin_rules, load_rule_file

from .conftest import AWS_KEY_ID, EXAMPLE_RULES, GITHUB_PAT, JWT, PII_RULES, gates, needs_hyperscan


def mixed_corpus(seed: int = 7) -> str:
    """Every example of every rule (built-in and sample), encoded variants, and filler."""
    rng = random.Random(seed)
    rules = builtin_rules() + load_rule_file(EXAMPLE_RULES)
    pieces: list[str] = []
    filler = [
        "def f(x):",
        "return x + 1",
        "password = os.environ['P']",
        "token",
        "secret",
        "key",
        "AKIA",
        "ghp_",
        "eyJ",
        "-----BEGIN",
        "@",
        "+1",
        "phone",
        "card",
        "iban",
        "ip",
        "é ü 漢字",
        "\\u0041",
        "%41",
        "ssn",
    ]
    for rule in rules:
        for example in rule.examples_match + rule.examples_no_match:
            pieces.append(example)
            pieces.extend(rng.choice(filler) for _ in range(rng.randint(0, 4)))
            if rng.random() < 0.15:
                pieces.append(base64.b64encode(example.encode()).decode())
            if rng.random() < 0.05:
                pieces.append(quote(example))
    rng.shuffle(pieces)
    return "\n".join(pieces)


def keyset(findings: list) -> list[tuple]:
    return sorted((f.rule_id, f.tier, f.start, f.end, f.fingerprint, f.encoding) for f in findings)


@needs_hyperscan
def test_hyperscan_and_python_gates_give_the_same_findings() -> None:
    text = mixed_corpus()
    key = b"k" * 32
    rules = builtin_rules() + load_rule_file(EXAMPLE_RULES)
    fast = Engine(rules, key=key, gate="hyperscan")
    slow = Engine(rules, key=key, gate="python")
    assert fast.gate_kind == "hyperscan" and slow.gate_kind == "python"
    found = fast.scan_text(text)
    assert len(found) > 50
    assert keyset(found) == keyset(slow.scan_text(text))
    data = text.encode()
    present, _, _, occurrences = fast._gate.presence(data)
    lowered = data.lower()
    assert sorted(present) == [i for i, kw in enumerate(fast._keywords) if kw in lowered]
    # Keywords that gate some rule the gate does not probe (or a honeytoken) come with
    # every occurrence; the others are looked for near match ends only.
    once = fast._gate.once
    assert 0 < sum(once) < len(once)
    expected: list[tuple[int, int]] = []
    for kw in present:
        if not once[kw]:
            every: list[tuple[int, int]] = []
            find_all(lowered, fast._keywords[kw], kw, every)
            word = fast._keywords[kw]
            if len(set(word)) == 1:  # one character repeated: where each run starts, and its last occurrence
                starts = sorted(start for _, start in every)
                every = [
                    (kw, start)
                    for i, start in enumerate(starts)
                    if i == 0 or starts[i - 1] != start - 1 or i == len(starts) - 1 or starts[i + 1] != start + 1
                ]
            expected.extend(every)
    assert occurrences is not None and len(expected) > 50
    assert sorted(occurrences) == sorted(expected)


def test_re_and_re2_confirmation_agree() -> None:
    pytest.importorskip("re2")
    text = mixed_corpus(seed=11)
    rules = builtin_rules() + load_rule_file(EXAMPLE_RULES)
    a = Engine(rules, key=b"k" * 32, regex="re2").scan_text(text)
    b = Engine(rules, key=b"k" * 32, regex="re").scan_text(text)
    assert keyset(a) == keyset(b)


@pytest.mark.parametrize("gate", gates())
def test_finds_each_sample_secret_with_tier_and_offsets(gate: str) -> None:
    engine = Engine.load(builtin=False, extra=[EXAMPLE_RULES], gate=gate)
    text = f"é漢 token={GITHUB_PAT}\nid {AWS_KEY_ID} jwt {JWT}\npassword = 'q7Rz!e2Lw9Xa'"
    found = {f.rule_id: f for f in engine.scan_text(text)}
    assert set(found) == {"sample-github-pat", "sample-aws-key-id", "sample-jwt", "sample-generic-password"}
    assert text[found["sample-github-pat"].start : found["sample-github-pat"].end] == GITHUB_PAT
    assert text[found["sample-aws-key-id"].start : found["sample-aws-key-id"].end] == AWS_KEY_ID
    assert found["sample-github-pat"].tier == "validated"
    assert found["sample-generic-password"].tier == "generic"
    data = text.encode()
    f = next(x for x in engine.scan_bytes(data) if x.rule_id == "sample-jwt")
    assert data[f.start : f.end] == JWT.encode()


def test_validator_failure_drops_the_hit(sample_engine: Engine) -> None:
    bad = GITHUB_PAT[:-1] + ("A" if GITHUB_PAT[-1] != "A" else "B")
    assert not [f for f in sample_engine.scan_text(f"t={bad}") if f.rule_id == "sample-github-pat"]


@pytest.mark.parametrize(
    "value",
    [
        "${GITHUB_TOKEN}",
        "<your-key>",
        "xxxxxxxxxxxxxxxx",
        "****************",
        "your_api_key_here",
        "aaaaaaaaaaaaaaa",
        "$DB_PASSWORD",
        "abcdefghijklmnop",
        "EXAMPLEPASSWORD1",
    ],
)
def test_placeholders_are_not_findings(sample_engine: Engine, value: str) -> None:
    assert sample_engine.scan_text(f'password = "{value}"') == []


def test_documented_example_keys_are_ignored(sample_engine: Engine) -> None:
    assert sample_engine.scan_text("aws_access_key_id=AKIAIOSFODNN7EXAMPLE") == []


def test_findings_never_show_the_secret(sample_engine: Engine) -> None:
    (finding,) = sample_engine.scan_text(f"token {GITHUB_PAT}")
    for text in (repr(finding), str(finding), json.dumps(finding.to_dict())):
        assert GITHUB_PAT not in text and GITHUB_PAT[4:20] not in text
    assert len(finding.fingerprint) == 32


def test_fingerprints_are_keyed_and_stable_under_one_key() -> None:
    a = Engine.load(builtin=False, extra=[EXAMPLE_RULES], key=b"one" * 8)
    b = Engine.load(builtin=False, extra=[EXAMPLE_RULES], key=b"one" * 8)
    c = Engine.load(builtin=False, extra=[EXAMPLE_RULES], key=b"two" * 8)
    fa, fb, fc = (e.scan_text(GITHUB_PAT)[0].fingerprint for e in (a, b, c))
    assert fa == fb != fc


def test_scan_json_paths_and_offsets(sample_engine: Engine) -> None:
    obj = {
        "params": {"arguments": {"token": f"é {GITHUB_PAT}", "list": [1, {"odd key": AWS_KEY_ID}]}},
        AWS_KEY_ID: "value under a secret key",
        "n": 4111111111111111,
        "card_number": "4111 1111 1111 1111",
    }
    found = {(f.rule_id, f.path): f for f in sample_engine.scan_json(obj)}
    tok = found[("sample-github-pat", "$.params.arguments.token")]
    assert (tok.start, tok.end) == (2, 2 + len(GITHUB_PAT))
    assert ("sample-aws-key-id", '$.params.arguments.list[1]["odd key"]') in found
    key_paths = [p for (r, p) in found if r == "sample-aws-key-id" and p.endswith("#key")]
    assert key_paths == ["$.{key#1}#key"], "a key holding a secret is named by position, never by its text"
    assert all(AWS_KEY_ID not in p for _, p in found)
    assert ("pii-payment-card", "$.card_number") in found


def test_matches_never_span_two_json_strings(sample_engine: Engine) -> None:
    assert sample_engine.scan_json(["ghp_u8jzPde0IgxLd6Gnc", "fBAepfJBd0Kh8024xXH"]) == []


@pytest.mark.parametrize(
    ("encode", "encoding"),
    [
        (lambda s: base64.b64encode(f"export GITHUB_TOKEN={s}\n".encode()).decode(), "base64"),
        (lambda s: base64.urlsafe_b64encode(f"token: {s}".encode()).decode().rstrip("="), "base64"),
        (lambda s: binascii.hexlify(f"token {s}".encode()).decode(), "hex"),
        (lambda s: quote(f"token={s}", safe=""), "url"),
        (lambda s: json.dumps({"t": s}).replace("g", "\\u0067"), "json-escape"),
    ],
)
def test_encoded_secrets_are_found(sample_engine: Engine, encode, encoding: str) -> None:
    blob = encode(GITHUB_PAT)
    text = f"data: {blob} end"
    found = [f for f in sample_engine.scan_text(text) if f.rule_id == "sample-github-pat"]
    assert found, f"{encoding}: not found"
    assert found[0].encoding == encoding
    assert blob.find(text[found[0].start : found[0].end]) >= 0 or text[found[0].start : found[0].end] in text


def test_base64_twice_is_found_and_three_times_is_not(sample_engine: Engine) -> None:
    once = base64.b64encode(f"token {GITHUB_PAT}".encode())
    twice = base64.b64encode(b"blob " + once).decode()
    thrice = base64.b64encode(b"blob " + twice.encode()).decode()
    assert [f.rule_id for f in sample_engine.scan_text(twice)] == ["sample-github-pat"]
    assert sample_engine.scan_text(thrice) == []


def test_pem_with_json_escaped_newlines_is_found(sample_engine: Engine) -> None:
    body = "MC4CAQAwBQYDK2VwBCIEIHm4qS1mQ1ryhbxUr7h1a9cS0eI9LgJ8yC2Vw1Dk8Qg4"
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    as_json_text = json.dumps({"private_key": pem})
    assert "\\n" in as_json_text
    assert any(f.rule_id == "sample-private-key" for f in sample_engine.scan_text(as_json_text))
    assert any(f.rule_id == "sample-private-key" for f in sample_engine.scan_json({"private_key": pem}))


def test_generic_inside_a_specific_finding_is_dropped(sample_engine: Engine) -> None:
    found = sample_engine.scan_text(f'secret = "{GITHUB_PAT}"')
    assert [f.rule_id for f in found] == ["sample-github-pat"]


def test_honeytokens_exact_and_encoded() -> None:
    canary = HoneyToken("billing", "AKIAZZZZCANARY234567", "aws")
    engine = Engine.load(builtin=False, extra=[EXAMPLE_RULES], honeytokens=[canary])
    found = engine.scan_text(f"x {canary.value} y")
    assert [(f.tier, f.severity, f.rule_id) for f in found] == [("honeytoken", "critical", "honeytoken-aws")]
    hidden = base64.b64encode(f"creds: {canary.value}".encode()).decode()
    assert [f.tier for f in engine.scan_text(hidden)] == ["honeytoken"]
    assert engine.scan_text(canary.value.lower()) == []


def test_pii_precision_on_code_and_logs() -> None:
    engine = Engine.load(builtin=False, extra=[PII_RULES])
    noisy = "\n".join(
        [
            "git clone git@github.com:org/repo.git",
            "import '@angular/core'; @media screen; logo@2x.png",
            "version 1.2.3.4 host 10.0.0.1 ip=127.0.0.1",
            "for i in range(n): total = i+1000000000",
            "sha 4111111111111111 id 4111111111111111",
            "uuid 123e4567-e89b-12d3-a456-426614174000",
            "contact: admin@example.com",
        ]
    )
    assert engine.scan_text(noisy) == []
    real = "Author: Jane Roe <jane.roe@acme-corp.io>\nclient_ip=81.2.69.160\nSSN: 536-22-8471"
    assert {f.rule_id for f in engine.scan_text(real)} == {"pii-email", "pii-ip-address", "pii-us-ssn"}
    assert {f.tier for f in engine.scan_text(real)} == {"pii"}


@needs_hyperscan
def test_gate_finds_the_same_shaped_runs_as_the_python_enumeration() -> None:
    from mcpwarden.detect import decoders
    from mcpwarden.detect.prefilter import HyperscanGate

    rng = random.Random(3)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/_-"
    parts = []
    for _ in range(3000):
        parts.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
        parts.append(rng.choice([" ", "=", "==", "\n", '"', "=a", ":", "é"]))
    data = "".join(parts).encode()
    data = base64.b64encode(b"plain text here, long enough") + b" " + data + b" " + binascii.hexlify(b"text " * 8)
    gate = HyperscanGate([b"zzzz"])
    _, _, starts, _ = gate.presence(data)
    expected = list(decoders._shaped_runs(data, data.translate(decoders._B64_MAP)))
    assert starts == expected and len(expected) > 100 and expected[0] == 0


def test_python_gate_lists_every_occurrence_of_every_keyword() -> None:
    from mcpwarden.detect.prefilter import PythonGate

    keywords = [b"sk_", b"sk_live_", b"aa", b"aaa", b"@", b"-----begin", b"+1", b"\xc3\xa9t\xc3\xa9"]
    data = "xSK_LIVE_1 aaaa @@ -----BEGIN +1+1 été sk_".encode().lower()
    expected: list[tuple[int, int]] = []
    for index, keyword in enumerate(keywords):
        find_all(data, keyword, index, expected)
    assert sorted(PythonGate(keywords).hits(data)) == sorted(expected)
    assert len(expected) == 14


@needs_hyperscan
def test_both_gates_agree_on_json() -> None:
    lines = mixed_corpus(seed=5).split("\n")
    rng = random.Random(5)
    obj = {
        "content": [{"type": "text", "text": "\n".join(lines[i : i + 7])} for i in range(0, 400, 7)],
        "structuredContent": {f"k{i}_{line[:20]}": line for i, line in enumerate(lines[400:700])},
        "items": [{"password": line, "n": rng.randint(0, 10**16)} for line in lines[700:900]],
    }
    rules = builtin_rules() + load_rule_file(EXAMPLE_RULES)
    key = b"k" * 32
    fast = Engine(rules, key=key, gate="hyperscan").scan_json(obj)
    slow = Engine(rules, key=key, gate="python").scan_json(obj)
    assert len(fast) > 30
    assert sorted((f.rule_id, f.path, f.start, f.end, f.fingerprint) for f in fast) == sorted(
        (f.rule_id, f.path, f.start, f.end, f.fingerprint) for f in slow
    )


@needs_hyperscan
def test_a_long_run_of_a_repeated_keyword_character_is_two_occurrences_not_a_million() -> None:
    """base64 of zero bytes is a run of ``A``: the X bearer token's keyword ``aaaa...`` would
    match at every byte of it (a million callbacks for 1 MB). The gate reports where the run
    starts and its last occurrence; a token right after such a run is still found."""
    engine = Engine(builtin_rules(), key=b"k" * 32, gate="hyperscan")
    data = b"=" + b"A" * 1_000_000 + b" "
    _, _, _, occurrences = engine._gate.presence(data)
    keyword = engine._keywords.index(b"a" * 21)
    assert sorted(start for kw, start in occurrences or [] if kw == keyword) == [1, 1_000_001 - 21]
    token = (
        "AAAAAAAAAAAAAAAAAAAAAAVeg2jqsVHC3Fcls0tnVoimm06m37YeorW4zeF8ga8i3JvG6GH9jzBP3UnrNs"
        "%3DPa25JdAe20GCI89IsDTDFrRuVShydqV8PkUQWX4y"
    )
    found = engine.scan_text("A" * 500_000 + " TWITTER_BEARER_TOKEN=" + token)
    assert [f.rule_id for f in found] == ["twitter-bearer-token"]
