"""Baselines: findings a team has accepted, stored as keyed hashes (never the secret).

    {"version": 1, "key_id": "<16 hex>", "findings": [{"fingerprint": "...", "rule": "...",
     "location": "path:line"}]}

A finding is accepted when its fingerprint is listed. Fingerprints are keyed, so a
baseline is only meaningful under the key that made it: ``key_id`` names that key, and
loading a baseline under another key is an error rather than a silent "nothing matches".
The key comes from $MCPWARDEN_DETECT_KEY or a key file (``load_key``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mcpwarden.detect.finding import Finding
from mcpwarden.detect.fingerprint import KEY_ENV, Fingerprinter, key_from_env
from mcpwarden.errors import DetectError

MAX_BASELINE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Baseline:
    key_id: str
    fingerprints: frozenset[str]

    def __contains__(self, finding: Finding) -> bool:
        return finding.fingerprint in self.fingerprints

    def check_key(self, fingerprinter: Fingerprinter, source: str = "baseline") -> None:
        if self.key_id != fingerprinter.key_id:
            raise DetectError(
                f"{source}: made under fingerprint key {self.key_id}, but the key in use is {fingerprinter.key_id}; "
                f"set ${KEY_ENV} or the key file to the key that wrote it"
            )


def load_baseline(path: str | Path) -> Baseline:
    path = Path(path).expanduser()
    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise DetectError(f"{path}: baseline is larger than {MAX_BASELINE_BYTES} bytes")
        data: Any = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise DetectError(f"{path}: cannot read baseline: {exc.strerror or exc}") from None
    except orjson.JSONDecodeError as exc:
        raise DetectError(f"{path}: baseline is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != 1 or not isinstance(data.get("findings"), list):
        raise DetectError(f"{path}: not a version 1 baseline (an object with 'version': 1 and 'findings')")
    key_id = data.get("key_id")
    if not isinstance(key_id, str):
        raise DetectError(f"{path}: baseline has no 'key_id'")
    prints = set()
    for i, entry in enumerate(data["findings"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("fingerprint"), str):
            raise DetectError(f"{path}: findings[{i}] needs a string 'fingerprint'")
        prints.add(entry["fingerprint"])
    return Baseline(key_id, frozenset(prints))


def write_baseline(path: str | Path, key_id: str, entries: Iterable[tuple[Finding, str | None]]) -> int:
    """Write the findings (each with an optional ``location``) as a baseline; returns how many."""
    seen: dict[str, dict[str, Any]] = {}
    for finding, location in entries:
        record: dict[str, Any] = {"fingerprint": finding.fingerprint, "rule": finding.rule_id}
        if location:
            record["location"] = location
        seen.setdefault(finding.fingerprint, record)
    body = {
        "version": 1,
        "key_id": key_id,
        "findings": sorted(seen.values(), key=lambda r: (r["rule"], r["fingerprint"])),
    }
    Path(path).expanduser().write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    return len(seen)


def load_key(key_file: str | Path | None, create: bool = False) -> bytes | None:
    """The fingerprint key: $MCPWARDEN_DETECT_KEY, else the key file's content (created with a
    random key, mode 0600, when ``create`` and missing), else None (a random key per engine)."""
    from_env = key_from_env()
    if from_env:
        return from_env
    if key_file is None:
        return None
    path = Path(key_file).expanduser()
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise DetectError(f"{path}: fingerprint key file does not exist") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode() + b"\n")
        key = path.read_bytes().strip()
    except OSError as exc:
        raise DetectError(f"{path}: cannot read fingerprint key file: {exc.strerror or exc}") from None
    if len(key) < 16:
        raise DetectError(f"{path}: fingerprint key is shorter than 16 bytes")
    return key
