"""How records are linked: the digest of a record line, keyed (HMAC-SHA-256) or not (SHA-256).

A record's ``prev`` is the digest of the previous record's line, exactly as written (the bytes
without the trailing newline). Hashing the bytes as written means no canonical form is needed:
what is verified is what is on disk.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

Algorithm = Literal["sha256", "hmac-sha256"]

FORMAT_VERSION = 1
GENESIS = "0" * 64
"""The ``prev`` of the very first record of a chain (seq 0)."""

_SHA256_BLOCK = 64
_KEY_ID_LABEL = b"mcpwarden audit key id v1"
_HEAD_KEY_LABEL = b"mcpwarden audit head key v1"
_HEAD_MAC_PERSON = b"mcpw-audit-head"


class Chain:
    """Digests for one chain. With a key every digest is an HMAC, and the head file is MACed too."""

    __slots__ = ("_head_key", "_inner", "_key", "_outer", "algorithm", "key_id")

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or None
        self._inner, self._outer = _hmac_states(self._key) if self._key else (None, None)
        # The head MAC is keyed BLAKE2b (a MAC by design, and ~3x cheaper than a second HMAC on
        # every append) under a key derived from the secret, so it never equals a record digest.
        self._head_key = hmac.digest(self._key, _HEAD_KEY_LABEL, "sha256") if self._key else None
        self.algorithm: Algorithm = "hmac-sha256" if self._key else "sha256"
        self.key_id: str | None = (
            hmac.digest(self._key, _KEY_ID_LABEL, "sha256").hex()[:16] if self._key else None
        )

    @property
    def keyed(self) -> bool:
        return self._key is not None

    def digest(self, line: bytes | memoryview) -> str:
        """Digest of one record line (without its newline)."""
        if self._inner is None or self._outer is None:
            return hashlib.sha256(line).hexdigest()
        inner = self._inner.copy()
        inner.update(line)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def head_mac(self, seq: int, last_hash: str, generation: int) -> str | None:
        """MAC over the head file's anchor, so that without the key nobody can move the anchor back."""
        if self._head_key is None:
            return None
        msg = b"%d\0%s\0%d" % (seq, last_hash.encode("ascii"), generation)
        return hashlib.blake2b(msg, key=self._head_key, digest_size=32, person=_HEAD_MAC_PERSON).hexdigest()

    def describe(self) -> str:
        return f"HMAC-SHA-256 (key id {self.key_id})" if self.keyed else "SHA-256 (unkeyed)"

    def __repr__(self) -> str:  # never shows the key
        return f"Chain(algorithm={self.algorithm!r}, key_id={self.key_id!r})"


def _hmac_states(key: bytes) -> tuple[Any, Any]:
    """HMAC-SHA-256 (RFC 2104) with the keyed inner and outer hash states computed once: the
    per-record cost is then two hash copies, about half that of ``hmac.digest``."""
    block = hashlib.sha256(key).digest() if len(key) > _SHA256_BLOCK else key
    block = block.ljust(_SHA256_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))
    return inner, outer


def sha256_hex(data: bytes | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
