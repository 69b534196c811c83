"""Keyed hashes of secrets: the only form in which a secret leaves the engine."""

from __future__ import annotations

import hashlib
import hmac
import os

FINGERPRINT_HEX = 32
KEY_ENV = "MCPWARDEN_DETECT_KEY"


class Fingerprinter:
    """HMAC-SHA256 under one key. The key never appears in repr."""

    __slots__ = ("_key", "key_id")

    def __init__(self, key: bytes | None = None):
        self._key = key if key else os.urandom(32)
        self.key_id = hashlib.sha256(b"mcpwarden-key-id\0" + self._key).hexdigest()[:16]
        """Names the key (so a baseline made under another key is recognised), reveals nothing of it."""

    def __call__(self, secret: bytes) -> str:
        return hmac.new(self._key, secret, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX]

    def __repr__(self) -> str:
        return f"<Fingerprinter key_id={self.key_id}>"


def key_from_env() -> bytes | None:
    """The fingerprint key from $MCPWARDEN_DETECT_KEY (any string, used as UTF-8), if set."""
    value = os.environ.get(KEY_ENV)
    return value.encode() if value else None
