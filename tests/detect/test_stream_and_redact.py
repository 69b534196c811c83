"""Streaming gives the same findings as one scan, whatever the chunking; redaction keeps
JSON valid, tags stable within a redactor, and never leaves the secret."""

from __future__ import annotations

import base64
import json
import random

import pytest

from mcpwarden.detect import Engine, Redactor

from .conftest import AWS_KEY_ID, GITHUB_PAT, JWT


def document(seed: int) -> bytes:
    rng = random.Random(seed)
    parts = []
    for i in range(400):
        parts.append(" ".join(rng.choice(["alpha", "beta", "token", "key", "é", "{", "}"]) for _ in range(30)))
        if i % 37 == 0:
            parts.append(f"GITHUB_TOKEN={GITHUB_PAT}")
        if i % 53 == 0:
            parts.append(base64.b64encode(f"aws {AWS_KEY_ID} x".encode()).decode())
        if i % 71 == 0:
            parts.append(f"Authorization: Bearer {JWT}")
    return "\n".join(parts).encode()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_chunking_gives_the_findings_of_one_scan(
    sample_engine: Engine, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mcpwarden.detect import stream

    monkeypatch.setattr(stream, "STEP", 100_000)  # many scan steps over a test-sized input
    data = document(seed) * 24
    assert len(data) > 4 * (stream.OVERLAP + stream.STEP)
    whole = sorted((f.rule_id, f.start, f.end, f.fingerprint) for f in sample_engine.scan_bytes(data))
    assert len(whole) >= 20
    rng = random.Random(seed)
    scanner = sample_engine.stream()
    streamed = []
    pos = 0
    while pos < len(data):
        size = rng.choice([1, 7, 100, 4096, 70_000, 300_000])
        streamed.extend(scanner.feed(data[pos : pos + size]))
        pos += size
    streamed.extend(scanner.close())
    assert sorted((f.rule_id, f.start, f.end, f.fingerprint) for f in streamed) == whole


def test_secret_split_across_two_chunks_is_found(sample_engine: Engine) -> None:
    data = b"x" * 1000 + f"token {GITHUB_PAT} end".encode()
    cut = 1000 + 6 + 20
    scanner = sample_engine.stream()
    found = scanner.feed(data[:cut]) + scanner.feed(data[cut:]) + scanner.close()
    assert [(f.rule_id, f.start) for f in found] == [("sample-github-pat", 1006)]


def test_redact_text_replaces_each_span_with_a_typed_tag(sample_engine: Engine) -> None:
    text = f"a={GITHUB_PAT} b={AWS_KEY_ID} c={GITHUB_PAT}"
    redactor = Redactor()
    out = redactor.redact_text(text, sample_engine.scan_text(text))
    assert GITHUB_PAT not in out and AWS_KEY_ID not in out
    tags = out.replace("a=", "").replace(" b=", "|").replace(" c=", "|").split("|")
    assert tags[0] == tags[2] != tags[1]
    assert tags[0].startswith("[REDACTED:sample-github-pat:") and len(tags[0].rsplit(":", 1)[1]) == 9
    assert Redactor().redact_text(text, sample_engine.scan_text(text)) != out, "a new redactor uses a new key"


def test_redact_json_keeps_structure_and_validity(sample_engine: Engine) -> None:
    obj = {
        "content": [{"type": "text", "text": f'line1\n{GITHUB_PAT}\n"quoted"'}],
        "meta": {AWS_KEY_ID: {"nested": [1, 2, f"{JWT}"]}, "n": 3},
        "untouched": {"deep": ["a", "b"]},
    }
    found = sample_engine.scan_json(obj)
    out = Redactor().redact_json(obj, found)
    dumped = json.dumps(out)
    for secret in (GITHUB_PAT, AWS_KEY_ID, JWT):
        assert secret not in dumped
    assert json.loads(dumped)["content"][0]["text"].startswith("line1\n[REDACTED:")
    assert out["untouched"] is obj["untouched"], "subtrees without findings are shared, not copied"
    assert out["meta"]["n"] == 3 and obj["meta"][AWS_KEY_ID]["nested"][2] == JWT, "the input is not modified"


def test_redact_bytes_and_overlaps(sample_engine: Engine) -> None:
    data = f"x {GITHUB_PAT} y".encode()
    out = Redactor().redact_bytes(data, sample_engine.scan_bytes(data))
    assert out.startswith(b"x [REDACTED:sample-github-pat:") and out.endswith(b"] y")
