"""Which keys a caller's record may hold.

The writer adds the chain fields itself, so a record that brings its own is refused. As a
last line of defence against leaking what the log must never hold, top-level keys named like
raw payloads or credentials (in any case, ``-`` read as ``_``) are refused unless their value
is a hex digest, a number, a bool or null; the digest keys (``args_sha256``,
``result_sha256``, ...) must hold a SHA-256 hex digest. Only top-level keys are checked:
nested values cost too much to walk on every message, and it remains the caller's duty to
put key names and digests in, never values.
"""

from __future__ import annotations

from typing import Any

from mcpwarden.errors import AuditError

CHAIN_KEYS = frozenset({"v", "seq", "ts", "alg", "kid", "pid", "prev"})
"""Keys the writer sets on every record; a caller's record may not hold them."""

PAYLOAD_KEYS = frozenset(
    {
        "arguments",
        "args",
        "params",
        "result",
        "content",
        "body",
        "token",
        "access_token",
        "refresh_token",
        "secret",
        "password",
        "authorization",
        "cookie",
        "headers",
        "env",
        "api_key",
        "apikey",
        "x_api_key",
        "private_key",
        "client_secret",
        "proxy_authorization",
        "set_cookie",
    }
)
"""Top-level keys that, by their name, would hold a raw payload or a credential."""

DIGEST_KEYS = frozenset({"args_sha256", "result_sha256", "params_sha256", "content_sha256", "error_sha256"})
"""Keys that must hold a SHA-256 hex digest (or null) when present."""

_CHECKED_KEYS = CHAIN_KEYS | PAYLOAD_KEYS | DIGEST_KEYS
_HEX_DIGITS = "0123456789abcdef"


def _is_sha256_hex(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and not value.strip(_HEX_DIGITS)


def _is_harmless(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float) or _is_sha256_hex(value)


def check_record_keys(record: dict[str, Any]) -> None:
    """Raise AuditError if ``record`` would overwrite chain fields or holds a payload by name.
    Names are compared case-insensitively, with ``-`` read as ``_`` (``Authorization``,
    ``API_KEY`` and ``x-api-key`` are caught like their lowercase forms)."""
    for key, name in _keys_to_check(tuple(record)):
        value = record[key]
        if name in DIGEST_KEYS:
            if value is not None and not _is_sha256_hex(value):
                raise AuditError(f"audit record refused: key {key!r} must hold a lowercase SHA-256 hex digest or null")
        elif name in CHAIN_KEYS:
            clash = sorted(k for k in record if _normal(k) in CHAIN_KEYS)
            raise AuditError(f"audit record refused: keys {clash} are set by the audit writer itself")
        elif not _is_harmless(value):
            raise AuditError(
                f"audit record refused: key {key!r} would hold a raw payload or credential "
                f"({type(value).__name__}); put its key names or SHA-256 in the record instead"
            )


_checked_by_shape: dict[tuple[Any, ...], tuple[tuple[str, str], ...]] = {}


def _keys_to_check(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...]:
    """The keys among ``keys`` that need a look, with their normalised names; worked out once
    per record shape (the gateway writes a handful of shapes, over and over)."""
    found = _checked_by_shape.get(keys)
    if found is None:
        found = tuple((key, _normal(key)) for key in keys if _normal(key) in _CHECKED_KEYS)
        if len(_checked_by_shape) < 512:
            _checked_by_shape[keys] = found
    return found


def _normal(key: Any) -> str:
    return key.lower().replace("-", "_") if isinstance(key, str) else ""
