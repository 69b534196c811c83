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


_VALUE, _KEY, _DEEP = 0, 1, 2


class _Collected:
    """The strings of a JSON value, flattened for one scan. Tree nodes are kept as parent
    links (paths are built only for strings that hold findings)."""

    __slots__ = ("nodes", "segments")

    def __init__(self) -> None:
        self.segments: list[tuple[str, int, int, int, int]] = []
        """(piece, head, length, kind, node): the text scanned, how many characters of context
        (``"key": "``) come before the value, the value's length, value/key/deep, tree node."""
        self.nodes: list[tuple[int, Any]] = [(-1, None)]
        """(parent, label) per tree node; node 0 is the root."""

    def parts(self, seg: int) -> Parts:
        labels: list[Any] = []
        _, _, _, kind, node = self.segments[seg]
        while node > 0:
            parent, label = self.nodes[node]
            labels.append(label)
            node = parent
        labels.reverse()
        if kind == _KEY:
            labels.append(KEY_MARK)
        elif kind == _DEEP:
            labels.append(DEEP_MARK)
        return tuple(labels)


def _collect(obj: Any, min_key: int = 0) -> _Collected:
    """Every string value, key and number; a value inside an object is scanned as
    ``"key": "value"`` so that rules keyed on the member name still match (only findings
    inside the value itself are reported for it). Keys shorter than ``min_key`` (the shortest
    text any rule, decoder or honeytoken can match) cannot hold a finding and are not listed
    on their own. Walked without recursion."""
    c = _Collected()
    add, nodes = c.segments.append, c.nodes
    stack: list[tuple[Any, int, str | None, int]] = [(obj, 0, None, 0)]
    push, pop = stack.append, stack.pop
    while stack:
        value, node, key, depth = pop()
        kind = type(value)
        if kind is str:
            if key is None:
                add((value, 0, len(value), _VALUE, node))
            else:
                head = f'"{key}": "'
                add((head + value + '"', len(head), len(value), _VALUE, node))
        elif kind is dict:
            if depth >= MAX_DEPTH:
                for text in _deep_texts(value):
                    add((text, 0, len(text), _DEEP, node))
                continue
            items = list(value.items())
            for position in range(len(items) - 1, -1, -1):
                name, child = items[position]
                if type(name) is not str:
                    name = str(name)
                member = len(nodes)
                nodes.append((node, (name, position)))
                if len(name) >= min_key:
                    add((name, 0, len(name), _KEY, member))
                if type(child) is str:  # the common leaf, handled here to spare a stack round trip
                    head = f'"{name}": "'
                    add((head + child + '"', len(head), len(child), _VALUE, member))
                else:
                    push((child, member, name, depth + 1))
        elif kind is list or kind is tuple:
            if depth >= MAX_DEPTH:
                for text in _deep_texts(value):
                    add((text, 0, len(text), _DEEP, node))
                continue
            base = len(nodes)
            nodes.extend((node, index) for index in range(len(value)))
            for index in range(len(value) - 1, -1, -1):
                push((value[index], base + index, None, depth + 1))
        elif value is None or value is True or value is False:
            continue
        elif isinstance(value, int | float):
            text = repr(value)
            if key is None:
                add((text, 0, len(text), _VALUE, node))
            else:
                head = f'"{key}": '
                add((head + text, len(head), len(text), _VALUE, node))
        elif isinstance(value, str):
            push((value[:], node, key, depth))
        elif isinstance(value, dict):
            push((dict(value), node, key, depth))
        elif isinstance(value, list | tuple):
            push((list(value), node, key, depth))
    return c


def _texts(obj: Any, min_key: int = 0) -> list[str]:
    """The pieces ``_collect`` lists, in the same order, without the bookkeeping for paths:
    the fast first pass (paths are worked out by ``_collect`` only when something is found)."""
    out: list[str] = []
    add = out.append
    stack: list[tuple[Any, str | None, int]] = [(obj, None, 0)]
    push, pop = stack.append, stack.pop
    while stack:
        value, key, depth = pop()
        kind = type(value)
        if kind is str:
            add(value if key is None else f'"{key}": "{value}"')
        elif kind is dict:
            if depth >= MAX_DEPTH:
                out.extend(_deep_texts(value))
                continue
            items = list(value.items())
            for position in range(len(items) - 1, -1, -1):
                name, child = items[position]
                if type(name) is not str:
                    name = str(name)
                if len(name) >= min_key:
                    add(name)
                if type(child) is str:
                    add(f'"{name}": "{child}"')
                else:
                    push((child, name, depth + 1))
        elif kind is list or kind is tuple:
            if depth >= MAX_DEPTH:
                out.extend(_deep_texts(value))
                continue
            for index in range(len(value) - 1, -1, -1):
                push((value[index], None, depth + 1))
        elif value is None or value is True or value is False:
            continue
        elif isinstance(value, int | float):
            add(repr(value) if key is None else f'"{key}": {value!r}')
        elif isinstance(value, str):
            push((value[:], key, depth))
        elif isinstance(value, dict):
            push((dict(value), key, depth))
        elif isinstance(value, list | tuple):
            push((list(value), key, depth))
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


def scan_json(engine: Engine, obj: Any) -> list[Finding]:
    pieces = _texts(obj, engine.shortest_match)
    if not pieces:
        return []
    joined = "\n".join(pieces)
    data = joined.encode("utf-8", "surrogatepass")
    ascii_only = len(data) == len(joined)
    sizes = list(map(len, pieces)) if ascii_only else [len(p.encode("utf-8", "surrogatepass")) for p in pieces]
    bounds: list[int] = []
    pos = 0
    for size in sizes:
        bounds.append(pos)
        pos += size
        bounds.append(pos)
        pos += 1
    hits = engine.raw_hits(data, bounds)
    if not hits:
        return []
    c = _collect(obj, engine.shortest_match)
    if [segment[0] for segment in c.segments] != pieces:  # the two walks must agree; fail closed
        raise RuntimeError("JSON walk mismatch: the value changed during the scan")
    placed: list[tuple[Finding, int, int, int]] = []
    spans: dict[int, tuple[int, int]] = {}  # per segment, computed once: O(size) each, not per finding
    for finding in engine.findings(hits):
        seg = (bisect.bisect_right(bounds, finding.start) - 1) // 2
        span = spans.get(seg)
        if span is None:
            piece, head, length, _, _ = c.segments[seg]
            if ascii_only:
                lo = bounds[2 * seg] + head
                span = (lo, lo + length)
            else:
                lo = bounds[2 * seg] + len(piece[:head].encode("utf-8", "surrogatepass"))
                span = (lo, lo + len(piece[head : head + length].encode("utf-8", "surrogatepass")))
            spans[seg] = span
        lo, hi = span
        if lo <= finding.start and finding.end <= hi:
            placed.append((finding, seg, lo, hi))
    masked = frozenset(c.parts(seg)[:-1] for _, seg, _, _ in placed if c.segments[seg][3] == _KEY)
    chars = {} if ascii_only else _char_offsets(data, placed)
    out: list[Finding] = []
    for finding, seg, lo, _hi in placed:
        start, end = finding.start - lo, finding.end - lo
        if not ascii_only:
            start, end = chars[(lo, finding.start)], chars[(lo, finding.end)]
        out.append(finding.at(start, end, path_string(c.parts(seg), masked)))
    return out


def _char_offsets(data: bytes, placed: list[tuple[Finding, int, int, int]]) -> dict[tuple[int, int], int]:
    """Character offsets, relative to each segment start ``lo``, of every finding's byte
    start and end, decoding each segment once in order (linear, not once per finding)."""
    wanted: dict[int, set[int]] = {}
    for finding, _, lo, _ in placed:
        wanted.setdefault(lo, set()).update((finding.start, finding.end))
    out: dict[tuple[int, int], int] = {}
    for lo, offsets in wanted.items():
        prev, count = lo, 0
        for off in sorted(offsets):
            count += len(data[prev:off].decode("utf-8", "ignore"))
            prev = off
            out[(lo, off)] = count
    return out
