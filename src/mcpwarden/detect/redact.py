"""Redaction: each finding's span becomes ``[REDACTED:<rule-id>:<short keyed hash>]``.

The short hash is an HMAC of the finding's fingerprint under the redactor's own key, so
within one redactor (one gateway session) the same secret always gets the same tag, and
tags from different sessions cannot be linked. Overlapping findings merge into one tag
(the most certain finding names it). ``redact_json`` rewrites only the strings that hold
findings and returns a new value; the JSON stays valid (a number or key holding a finding
becomes a string tag).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from typing import Any

from mcpwarden.detect.finding import TIER_RANK, Finding
from mcpwarden.detect.jsonscan import DEEP_MARK, KEY_MARK, MAX_DEPTH, member_string

TAG_HASH_HEX = 8
_LAST_INDEX = re.compile(r"\[(\d+)\]$")


class Redactor:
    __slots__ = ("_key",)

    def __init__(self, key: bytes | None = None):
        self._key = key or os.urandom(32)

    def __repr__(self) -> str:
        return "<Redactor>"

    def tag(self, finding: Finding) -> str:
        short = hmac.new(self._key, finding.fingerprint.encode(), hashlib.sha256).hexdigest()[:TAG_HASH_HEX]
        return f"[REDACTED:{finding.rule_id}:{short}]"

    def redact_text(self, text: str, findings: Iterable[Finding]) -> str:
        """``text`` with every finding's span (character offsets, as scan_text gives) replaced."""
        spans = _merged(list(findings))
        if not spans:
            return text
        pieces: list[str] = []
        pos = 0
        for start, end, finding in spans:
            pieces.append(text[pos:start])
            pieces.append(self.tag(finding))
            pos = end
        pieces.append(text[pos:])
        return "".join(pieces)

    def redact_bytes(self, data: bytes, findings: Iterable[Finding]) -> bytes:
        """``data`` with every finding's span (byte offsets, as scan_bytes gives) replaced."""
        spans = _merged(list(findings))
        pieces: list[bytes] = []
        pos = 0
        for start, end, finding in spans:
            pieces.append(data[pos:start])
            pieces.append(self.tag(finding).encode())
            pos = end
        pieces.append(data[pos:])
        return b"".join(pieces)

    def redact_json(self, obj: Any, findings: Iterable[Finding]) -> Any:
        """A copy of ``obj`` with the findings of ``scan_json(obj)`` redacted (unchanged parts shared)."""
        by_path: dict[str, list[Finding]] = {}
        for finding in findings:
            if finding.path is not None:
                by_path.setdefault(finding.path, []).append(finding)
        if not by_path:
            return obj
        prefixes = set()
        for path in by_path:
            prefixes.update(_prefixes(path))
        indexes: dict[str, set[int]] = {}
        for prefix in prefixes:
            m = _LAST_INDEX.search(prefix)
            if m is not None:
                indexes.setdefault(prefix[: m.start()], set()).add(int(m.group(1)))
        return self._rewrite("$", 0, obj, by_path, prefixes, indexes)

    def _rewrite(
        self,
        path: str,
        depth: int,
        value: Any,
        by_path: dict[str, list[Finding]],
        prefixes: set[str],
        indexes: dict[str, set[int]],
    ) -> Any:
        if isinstance(value, str):
            found = by_path.get(path)
            return self.redact_text(value, found) if found else value
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            found = by_path.get(path)
            return self.redact_text(repr(value), found) if found else value
        if path not in prefixes:
            return value
        if depth >= MAX_DEPTH:
            found = by_path.get(path + DEEP_MARK)
            return self.tag(found[0]) if found else value
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for position, (key, child) in enumerate(value.items()):
                key_str = str(key)
                child_path = path + member_string(key_str, position, masked=True)
                key_found = by_path.get(child_path + KEY_MARK)
                if key_found:
                    new_key: Any = self.redact_text(key_str, key_found)
                else:
                    new_key, child_path = key, path + member_string(key_str, position, masked=False)
                out[new_key] = self._rewrite(child_path, depth + 1, child, by_path, prefixes, indexes)
            return out
        if isinstance(value, list | tuple):
            items = list(value)  # only the elements on a finding's path are visited
            for i in sorted(indexes.get(path, ())):
                if i < len(items):
                    items[i] = self._rewrite(f"{path}[{i}]", depth + 1, items[i], by_path, prefixes, indexes)
            return items
        return value


def _prefixes(path: str) -> list[str]:
    """Every ancestor path of ``path`` (string form), itself included, so the walk can skip
    subtrees without findings."""
    out = [path]
    for mark in (KEY_MARK, DEEP_MARK):
        if path.endswith(mark):
            path = path[: -len(mark)]
            out.append(path)
    depth = 0
    in_string = False
    escape = False
    for i, ch in enumerate(path):
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "[":
            depth += 1
            out.append(path[:i])
        elif ch == "]":
            depth -= 1
        elif ch == "." and depth == 0:
            out.append(path[:i])
    return out


def _merged(findings: list[Finding]) -> list[tuple[int, int, Finding]]:
    """Non-overlapping spans, in order; the most certain finding names each merged span."""
    findings.sort(key=lambda f: (f.start, -f.end))
    spans: list[tuple[int, int, Finding]] = []
    for f in findings:
        if spans and f.start < spans[-1][1]:
            start, end, best = spans[-1]
            if TIER_RANK[f.tier] < TIER_RANK[best.tier]:
                best = f
            spans[-1] = (start, max(end, f.end), best)
        else:
            spans.append((f.start, f.end, f))
    return spans
