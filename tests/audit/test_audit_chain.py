"""The chain's digests are the standard constructions, so any tool can check them."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from mcpwarden.audit import Chain


@pytest.mark.parametrize("key_length", [16, 32, 63, 64, 65, 200])
def test_keyed_digest_is_hmac_sha256(key_length: int) -> None:
    key = bytes(range(256))[:key_length]
    chain = Chain(key)
    for line in (b"", b'{"v":1}', b"x" * 5000):
        assert chain.digest(line) == hmac.new(key, line, "sha256").hexdigest()
        assert chain.digest(memoryview(line + b"\n")[:-1]) == hmac.new(key, line, "sha256").hexdigest()
    assert chain.algorithm == "hmac-sha256" and chain.key_id and len(chain.key_id) == 16
    assert key.hex() not in repr(chain)


def test_unkeyed_digest_is_sha256() -> None:
    chain = Chain(None)
    assert chain.digest(b"abc") == hashlib.sha256(b"abc").hexdigest()
    assert (chain.algorithm, chain.key_id, chain.head_mac(1, "0" * 64, 1)) == ("sha256", None, None)


def test_head_mac_depends_on_every_anchor_field_and_the_key() -> None:
    chain = Chain(b"k" * 32)
    base = chain.head_mac(5, "a" * 64, 2)
    assert base != chain.head_mac(4, "a" * 64, 2)
    assert base != chain.head_mac(5, "b" * 64, 2)
    assert base != chain.head_mac(5, "a" * 64, 3)
    assert base != Chain(b"j" * 32).head_mac(5, "a" * 64, 2)
    assert base == Chain(b"k" * 32).head_mac(5, "a" * 64, 2)


def test_log_can_be_checked_from_the_documented_format_alone(tmp_path: object) -> None:
    """docs/audit.md is enough to check a log: seq +1, prev = HMAC-SHA-256(key, previous line)."""
    import json
    import os

    from mcpwarden.audit import AuditLog, AuditOptions

    path = os.path.join(str(tmp_path), "audit.jsonl")
    key = b"independent-check-key-0123456789"
    os.environ["MCPWARDEN_DOC_CHECK_KEY"] = key.decode()
    try:
        with AuditLog.open(AuditOptions(path=path, hmac_key_env="MCPWARDEN_DOC_CHECK_KEY")) as log:
            for i in range(5):
                log.append({"event": "call", "i": i})
    finally:
        del os.environ["MCPWARDEN_DOC_CHECK_KEY"]
    with open(path, "rb") as handle:
        lines = handle.read().split(b"\n")[:-1]
    previous = "0" * 64
    for seq, line in enumerate(lines):
        record = json.loads(line)
        assert (record["v"], record["seq"], record["prev"], record["alg"]) == (1, seq, previous, "hmac-sha256")
        previous = hmac.new(key, line, "sha256").hexdigest()
    with open(path + ".head", "rb") as handle:
        head = json.loads(handle.read())
    assert (head["seq"], head["hash"], head["end"]) == (4, previous, os.path.getsize(path))
