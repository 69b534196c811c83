"""Scanning a JSON value: every string value, object key and number, as decoded text.

All strings are joined with newlines into one buffer and scanned in one pass; windows are
clipped to each string so no match spans two of them. Paths look like
``$.params.arguments.token``, ``$.content[0].text`` or ``$["odd key"]``; a finding in an
object key has the member's path followed by ``#key``. Below MAX_DEPTH levels every value is
still scanned, but paths end at that depth with ``[…]``. A key that holds a finding never
appears in a path: that member is written ``{key#N}`` (its position in the object), in the
key finding's path and in the paths of everything under it. Walking is iterative (no recursion
limit) and nesting deeper than MAX_DEPTH is scanned as its compact JSON text.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import TYPE_CHECKING, Any

import orjson

from mcpwarden.detect.finding import Finding

if TYPE_CHECKING:
    from mcpwarden.detect.engine import Engine

MAX_DEPTH = 256
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

Parts = tuple[Any, ...]
"""A path: list indexes (int), object members ((key, position)), and "#key" last for a key."""

KEY_MARK = "#key"
DEEP_MARK = "[…]"
"""Stands for everything below a node at MAX_DEPTH: it is scanned, but paths stop there."""


def member_string(key: str, position: int, masked: bool) -> str:
    if masked:
        return f".{{key#{position}}}"
    if _PLAIN_KEY.fullmatch(key):
        return f".{key}"
    try:
        return "[" + orjson.dumps(key).decode() + "]"
    except TypeError:  # lone surrogates: orjson refuses them, json escapes them
        return "[" + json.dumps(key) + "]"


def path_string(parts: Parts, masked: frozenset[Parts] = frozenset()) -> str:
    """``parts`` as a path; members whose parts are in ``masked`` are written by position."""
    out = "$"
    for i, part in enumerate(parts):
        if part in (KEY_MARK, DEEP_MARK):
            out += part
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += member_string(part[0], part[1], parts[: i + 1] in masked)
    return out


def strings_of(obj: Any) -> list[tuple[Parts, str, str, str]]:
    """(path parts, text, prefix, suffix) for each string value, key and number, in document
    order. A value inside an object is scanned as ``"key": "value"`` (prefix and suffix give
    the context) so that rules keyed on the member name (``"password": "..."``) still match;
    only findings inside the value itself are reported for it."""
    out: list[tuple[Parts, str, str, str]] = []
    stack: list[tuple[Parts, Any, str]] = [((), obj, "")]
    while stack:
        parts, value, key = stack.pop()
        if isinstance(value, str):
            out.append((parts, value, f'"{key}": "', '"') if key else (parts, value, "", ""))
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int | float):
            out.append((parts, repr(value), f'"{key}": ' if key else "", ""))
        elif isinstance(value, _KeyText):
            out.append((parts, value.text, "", ""))
        elif len(parts) >= MAX_DEPTH:
            out.extend(((*parts, DEEP_MARK), text, "", "") for text in _deep_texts(value))
        elif isinstance(value, dict):
            items = list(value.items())
            for position in range(len(items) - 1, -1, -1):
                name, child = items[position]
                key_parts = (*parts, (str(name), position))
                stack.append((key_parts, child, str(name)))
                stack.append(((*key_parts, KEY_MARK), _KeyText(str(name)), ""))
        elif isinstance(value, list | tuple):
            for index in range(len(value) - 1, -1, -1):
                stack.append(((*parts, index), value[index], ""))
    return out


def _deep_texts(value: Any) -> list[str]:
    """Every string, key and number below ``value``, walked without recursion."""
    texts: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int | float):
            texts.append(repr(item))
        elif isinstance(item, dict):
            for key, child in item.items():
                texts.append(str(key))
                stack.append(child)
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))
    return texts


class _KeyText:
    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def scan_json(engine: Engine, obj: Any) -> list[Finding]:
    texts = strings_of(obj)
    if not texts:
        return []
    pieces: list[bytes] = []
    bounds: list[int] = []
    values: list[tuple[int, int, bytes]] = []
    """Per segment: absolute start and end of the value in the buffer, and its bytes."""
    pos = 0
    for _, text, prefix, suffix in texts:
        value = text.encode("utf-8", "surrogatepass")
        head = prefix.encode("utf-8", "surrogatepass")
        piece = head + value + suffix.encode("utf-8", "surrogatepass") if head else value
        pieces.append(piece)
        bounds.append(pos)
        values.append((pos + len(head), pos + len(head) + len(value), value))
        pos += len(piece)
        bounds.append(pos)
        pos += 1
    hits = engine.raw_hits(b"\n".join(pieces), bounds)
    if not hits:
        return []
    found = engine.findings(hits)
    placed: list[tuple[Finding, int]] = []
    for finding in found:
        seg = (bisect.bisect_right(bounds, finding.start) - 1) // 2
        lo, hi, _ = values[seg]
        if lo <= finding.start and finding.end <= hi:
            placed.append((finding, seg))
    masked = frozenset(texts[seg][0][:-1] for _, seg in placed if texts[seg][0] and texts[seg][0][-1] == KEY_MARK)
    out: list[Finding] = []
    for finding, seg in placed:
        lo, _, value = values[seg]
        start, end = finding.start - lo, finding.end - lo
        if len(value) != len(texts[seg][1]):
            start, end = len(value[:start].decode("utf-8", "ignore")), len(value[:end].decode("utf-8", "ignore"))
        out.append(
            Finding(
                finding.rule_id,
                finding.family,
                finding.severity,
                finding.tier,
                start,
                end,
                finding.fingerprint,
                path_string(texts[seg][0], masked),
                finding.encoding,
                finding.description,
            )
        )
    return out
