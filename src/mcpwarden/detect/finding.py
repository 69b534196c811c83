"""A finding: where a rule matched and how sure the engine is. It never holds the secret.

``fingerprint`` is a keyed hash (HMAC-SHA256, truncated) of the secret under the engine's
key: equal secrets give equal fingerprints under one key, and without the key nobody can
test a guess against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIER_RANK = {"honeytoken": 0, "validated": 1, "pattern": 2, "pii": 3, "generic": 4}
"""Lower is more certain; when two findings cover the same span the more certain one wins."""


@dataclass(frozen=True, slots=True)
class Finding:
    rule_id: str
    family: str
    severity: str
    tier: str
    start: int
    """Offset of the secret in the scanned text (characters for str input, bytes for bytes),
    or of the encoded token holding it when ``encoding`` is set."""
    end: int
    fingerprint: str
    path: str | None = None
    """JSON path of the string holding the secret (``$.params.arguments.token``), else None."""
    encoding: str | None = None
    """How the secret was hidden when found after decoding: base64, hex, url, json-escape."""
    description: str = ""

    def __repr__(self) -> str:
        where = f" path={self.path}" if self.path else ""
        enc = f" encoding={self.encoding}" if self.encoding else ""
        return (
            f"<Finding {self.rule_id} tier={self.tier} severity={self.severity} "
            f"span={self.start}:{self.end}{where}{enc} fp={self.fingerprint[:12]}>"
        )

    __str__ = __repr__

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able record: safe to log or audit (no secret)."""
        out: dict[str, Any] = {
            "rule": self.rule_id,
            "family": self.family,
            "severity": self.severity,
            "tier": self.tier,
            "start": self.start,
            "end": self.end,
            "fingerprint": self.fingerprint,
        }
        if self.path is not None:
            out["path"] = self.path
        if self.encoding is not None:
            out["encoding"] = self.encoding
        return out

    def at(self, start: int, end: int, path: str | None) -> Finding:
        """This finding placed at ``start:end`` of the JSON string at ``path``."""
        return Finding(
            self.rule_id,
            self.family,
            self.severity,
            self.tier,
            start,
            end,
            self.fingerprint,
            path,
            self.encoding,
            self.description,
        )

    def moved(self, delta: int, path: str | None = None, encoding: str | None = None) -> Finding:
        """This finding shifted by ``delta``, optionally given a path or encoding."""
        return Finding(
            self.rule_id,
            self.family,
            self.severity,
            self.tier,
            self.start + delta,
            self.end + delta,
            self.fingerprint,
            path if path is not None else self.path,
            encoding or self.encoding,
            self.description,
        )
