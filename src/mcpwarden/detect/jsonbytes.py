"""Scanning a JSON value through its compact serialization (the fast path of ``scan_json``).

Walking every string of a large result in Python costs more than scanning it. Instead the
value is serialized once (orjson, compact) and the gate runs over those bytes. A string can
hold a finding only where one of these occurs in it: a keyword or honeytoken, the start of a
base64/hex run shaped like encoded text, a ``%XX`` escape, or a backslash (escapes decode
differently from how they are written). Only the members and elements holding such a place
are decoded and scanned, exactly as the walk in ``jsonscan`` lays them out (``"key": "value"``
and keys on their own), so the findings are the same. JSON paths are worked out only for
strings that hold findings, by descending the value and measuring the serialized length of
halves of each container (binary search; linear in bytes, logarithmic in calls).

The bytes of a string without a backslash are its UTF-8 text, so such strings are never
decoded. Keywords are matched in the serialized bytes, which is sound when no keyword holds a
backslash, a control character or an inner quote (``Engine.json_bytes_safe``); otherwise, and
for values orjson cannot serialize (non-string keys, lone surrogates, huge integers, nesting
deeper than orjson's limit), ``jsonscan`` walks the value instead.
"""

from __future__ import annotations

import bisect
import re
from itertools import accumulate
from typing import TYPE_CHECKING, Any

import orjson

from mcpwarden.detect.decoders import next_percent_escape
from mcpwarden.detect.finding import Finding
from mcpwarden.detect.jsonscan import KEY_MARK, Parts, path_string

if TYPE_CHECKING:
    from mcpwarden.detect.engine import Engine

_QUOTE = 0x22
_COLON = 0x3A
_NUMBER = re.compile(rb"-?[0-9][0-9.eE+\-]*")
_NUMBER_CHARS = frozenset(b"0123456789.eE+-")
_ESCAPED_QUOTE_OR_BACKSLASH = re.compile(rb'\\[\\"]')
_SERIALIZE_OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def keyword_safe(word: bytes) -> bool:
    """Whether every occurrence of ``word`` in a piece the walk would scan also occurs, as
    bytes, inside the same member in the compact serialization. Pieces differ from it by
    escapes (strings holding a backslash are always scanned) and by the ``": "`` between key
    and value (written ``":"``), which only a keyword made of those characters can overlap
    without holding an inner quote."""
    if any(c < 0x20 or c == 0x5C for c in word):
        return False
    inner = word.strip(b'"')
    return b'"' not in inner and inner not in (b"", b":", b" ", b": ")


MANY_STRINGS = 4000
"""Below this many quotes in the serialization, walking the value costs less than picking
its strings (a result of a few large strings)."""

LONG_AVERAGE = 100
"""With more bytes than this per quote left after escapes are masked (strings of 200 bytes
on average, or stringified JSON inside one string), walking costs less too: such strings
usually hold a place each, so picking would select most of them after a pass of its own."""


def serialize(obj: Any) -> bytes | None:
    """The compact JSON of ``obj``, or None when orjson cannot write it as the walk reads it."""
    try:
        return orjson.dumps(obj, option=_SERIALIZE_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return None


_SAMPLE = 64 * 1024
DENSE_ESCAPES = 2048
"""When two 64 KB samples (from the first backslash and from the middle) hold more ``\\"``
than this, escapes are masked by two ``bytes.replace`` passes (about 1 ms per MB each, but
nothing per escape: a 1 MB string of stringified JSON holds some 100,000), else by one regex
substitution (about 0.4 ms per MB plus 0.15 us per escape)."""


def _mask_escapes(data: bytes) -> bytes:
    """``data`` with escaped backslashes and escaped quotes masked as 0x01 0x01 (same length,
    so offsets are shared): every quote left opens or closes a string."""
    first = data.find(b"\\")
    if first < 0:
        return data
    middle = max(first + _SAMPLE, len(data) // 2)
    sampled = data.count(b'\\"', first, first + _SAMPLE) + data.count(b'\\"', middle, middle + _SAMPLE)
    if sampled <= DENSE_ESCAPES:
        return _ESCAPED_QUOTE_OR_BACKSLASH.sub(b"\x01\x01", data)
    # A run of backslashes starts with an escape, so ``\\`` pairs taken left to right are
    # escaped backslashes; every backslash left starts an escape.
    return data.replace(b"\\\\", b"\x01\x01").replace(b'\\"', b"\x01\x01")


class _Units:
    """The members and elements to scan, keyed by where each starts in the serialization."""

    __slots__ = ("data", "delims", "units")

    def __init__(self, data: bytes):
        self.data = data
        # Every quote left in ``delims`` opens or closes a string: escaped backslashes and
        # escaped quotes are masked (same length, so offsets are shared).
        self.delims = _mask_escapes(data)
        self.units: dict[int, tuple[int, int, int, int, bool]] = {}
        """start -> (key start, key end, value start, value end, value is a string); key
        start is -1 for an array element (or the root)."""

    def add_string(self, s: int, e: int) -> None:
        """The string whose quotes are at ``s`` and ``e - 1`` holds a place of interest."""
        d = self.delims
        if e < len(d) and d[e] == _COLON:  # a key: the member is key + value
            vs = e + 1
            first = d[vs]
            if first == _QUOTE:
                ve = d.find(b'"', vs + 1) + 1
                self.units[s] = (s, e, vs, ve, True)
            elif first in _NUMBER_CHARS:
                m = _NUMBER.match(self.data, vs)
                self.units[s] = (s, e, vs, m.end() if m else vs, False)
            else:  # a container, true, false or null: the key alone
                self.units[s] = (s, e, vs, vs, False)
        elif s > 0 and d[s - 1] == _COLON:  # a member's value
            ks = d.rfind(b'"', 0, s - 2)
            self.units[ks] = (ks, s - 1, s, e, True)
        else:
            self.units[s] = (-1, -1, s, e, True)

    def add_number(self, p: int) -> None:
        data = self.data
        lo = p
        while lo > 0 and data[lo - 1] in _NUMBER_CHARS:
            lo -= 1
        m = _NUMBER.match(data, lo)
        if m is None or m.end() <= p:
            return  # true, false, null or punctuation: never scanned
        if lo > 0 and self.delims[lo - 1] == _COLON:
            ke = lo - 1
            ks = self.delims.rfind(b'"', 0, ke - 1)
            self.units[ks] = (ks, ke, lo, m.end(), False)
        else:
            self.units[lo] = (-1, -1, lo, m.end(), False)


_BLOCK = 4096
LONG_STRING = 32 * 1024
"""Strings covering this many bytes of whole blocks are selected without looking inside."""


class _Strings:
    """Which string an offset lies in, from quote parity (counted per 4 KB block once)."""

    __slots__ = ("_at", "_quotes", "delims", "prefix")

    def __init__(self, delims: bytes):
        self.delims = delims
        self._at = self._quotes = 0
        count = delims.count
        prefix = [0]
        total = 0
        for lo in range(0, len(delims), _BLOCK):
            total += count(b'"', lo, lo + _BLOCK)
            prefix.append(total)
        self.prefix = prefix

    def masked(self, delims: bytes, data: bytes) -> _Strings:
        """The counts for ``delims``, the masked form of ``data`` (which these count): only
        blocks holding a backslash, or following one that ends with a backslash, change."""
        out = _Strings.__new__(_Strings)
        out.delims = delims
        out._at = out._quotes = 0
        prefix = self.prefix
        per_block = [prefix[k + 1] - prefix[k] for k in range(len(prefix) - 1)]
        count = delims.count
        pos = data.find(b"\\")
        while pos >= 0:
            k = pos // _BLOCK
            end = (k + 1) * _BLOCK
            per_block[k] = count(b'"', k * _BLOCK, end)
            if end < len(data) and data[end - 1] == 0x5C:
                per_block[k + 1] = count(b'"', end, end + _BLOCK)
            pos = data.find(b"\\", end)
        out.prefix = list(accumulate(per_block, initial=0))
        return out

    def long_strings(self, blocks: int) -> list[tuple[int, int]]:
        """(opening quote, offset past the closing quote) of the strings that cover at least
        ``blocks`` whole blocks, in order."""
        prefix, d = self.prefix, self.delims
        out: list[tuple[int, int]] = []
        run = 0
        for k in range(len(prefix)):
            if k + 1 < len(prefix) and prefix[k] & 1 and prefix[k + 1] == prefix[k] and (k + 1) * _BLOCK <= len(d):
                run += 1
                continue
            if run >= blocks:
                end = d.find(b'"', k * _BLOCK)
                if end >= 0:
                    out.append((d.rfind(b'"', 0, (k - run) * _BLOCK), end + 1))
            run = 0
        return out

    def around(self, p: int) -> tuple[int, int] | None:
        """(opening quote, offset past the closing quote) of the string holding ``p``.
        Quotes are counted from the block start, or from the last offset asked about when
        that is nearer (places are visited in order)."""
        d = self.delims
        at = self._at
        if at <= p and p - at < p % _BLOCK:
            quotes = self._quotes + d.count(b'"', at, p)
        else:
            block = p // _BLOCK
            quotes = self.prefix[block] + d.count(b'"', block * _BLOCK, p)
        self._at, self._quotes = p, quotes
        if quotes & 1 == 0:
            return None
        return d.rfind(b'"', 0, p), d.find(b'"', p) + 1


def _collect_units(engine: Engine, units: _Units, strings: _Strings) -> None:
    """Adds every member and element holding a place of interest (see the module docstring)."""
    data = units.data
    gate = engine._gate
    # Long strings are taken whole without looking: a long string usually holds some place,
    # and the scan of the selection reads it anyway.
    found: list[tuple[int, int]] = []
    runs: list[int] = []
    spans: list[tuple[int, int]] = []
    """Strings recorded so far (by the long-string and keyword passes, each in order)."""
    lo = 0
    for s, e in [*strings.long_strings(LONG_STRING // _BLOCK), (len(data), len(data))]:
        if s > lo:
            piece_found, piece_runs = gate.every(data[lo:s])
            found.extend((start + lo, kw) for start, kw in piece_found)
            runs.extend(p + lo for p in piece_runs)
        if e > s:
            units.add_string(s, e)
            spans.append((s, e))
        lo = e

    def place(p: int) -> int:
        """Records the unit holding ``p``; returns where the next place can usefully be."""
        span = strings.around(p)
        if span is None:
            if units.delims[p] in _NUMBER_CHARS:
                units.add_number(p)
            return p + 1
        units.add_string(*span)
        spans.append(span)
        return span[1]

    inner = engine._kw_inner
    next_place = -1
    for start, kw in sorted(found):
        p = start + inner[kw]
        if p >= next_place:
            next_place = place(p)
    # The remaining places mostly lie in strings recorded already: those are skipped.
    spans.sort()
    starts = [s for s, _ in spans]
    ends = [e for _, e in spans]

    def place_new(p: int) -> int:
        i = bisect.bisect_right(starts, p) - 1
        if i >= 0 and p < ends[i]:
            return ends[i]
        return place(p)

    for p in runs or ():
        place_new(p)
    # Backslashes and percent escapes lie inside strings only.
    pos = data.find(b"\\")
    while pos >= 0:
        pos = data.find(b"\\", place_new(pos))
    pos = next_percent_escape(data)
    while pos >= 0:
        pos = next_percent_escape(data, place_new(pos))


_VALUE, _KEY = 0, 1
_SAMPLES, _SAMPLE_BYTES = 8, 8192


def _few_quotes(data: bytes, min_quotes: int) -> bool:
    """Whether ``data`` holds clearly fewer than ``min_quotes`` quotes, judged from a few
    samples (a full ``bytes.count`` costs ~0.3 ms per MB; a value of a few long strings is
    the common case). Only the choice of scan path depends on it, never the findings."""
    size = len(data)
    if size < min_quotes:
        return True
    if size <= _SAMPLES * _SAMPLE_BYTES:
        return data.count(b'"') < min_quotes
    step = (size - _SAMPLE_BYTES) // (_SAMPLES - 1)
    sampled = sum(data.count(b'"', k * step, k * step + _SAMPLE_BYTES) for k in range(_SAMPLES))
    return sampled * size < min_quotes * _SAMPLES * _SAMPLE_BYTES // 2


def scan_serialized(engine: Engine, obj: Any, data: bytes, min_strings: int = 0) -> list[Finding] | None:
    """Findings of ``scan_json(obj)`` from its serialization ``data``; None when the gate
    cannot pick the places (no hyperscan) or, with ``min_strings``, when ``data`` holds fewer
    quotes than that or longer strings than LONG_AVERAGE says (the caller walks instead)."""
    if not hasattr(engine._gate, "every"):
        return None
    if min_strings and _few_quotes(data, min_strings):
        return None
    strings = _Strings(data)
    units = _Units(data)
    if units.delims is not data:  # escaped quotes were masked: count again
        strings = strings.masked(units.delims, data)
    if min_strings and len(data) > LONG_AVERAGE * strings.prefix[-1]:
        return None
    _collect_units(engine, units, strings)
    min_key = engine.shortest_match
    pieces: list[bytes] = []
    layout: list[tuple[int, int, int, int]] = []
    """Per piece: (unit start, kind, bytes of context before the text, text bytes)."""
    for start in sorted(units.units):
        ks, ke, vs, ve, is_string = units.units[start]
        key = b""
        if ks >= 0:
            key = _string_bytes(data, ks, ke)
            if _char_len(key) >= min_key:
                pieces.append(key)
                layout.append((start, _KEY, 0, len(key)))
        if ve <= vs:
            continue
        if is_string:
            value = _string_bytes(data, vs, ve)
            if ks >= 0:
                pieces.append(b'"' + key + b'": "' + value + b'"')
                layout.append((start, _VALUE, len(key) + 5, len(value)))
            else:
                pieces.append(value)
                layout.append((start, _VALUE, 0, len(value)))
        else:
            text = repr(orjson.loads(data[vs:ve])).encode()
            if ks >= 0:
                pieces.append(b'"' + key + b'": ' + text)
                layout.append((start, _VALUE, len(key) + 4, len(text)))
            else:
                pieces.append(text)
                layout.append((start, _VALUE, 0, len(text)))
    if not pieces:
        return []
    joined = b"\n".join(pieces)
    bounds: list[int] = []
    pos = 0
    for piece in pieces:
        bounds.append(pos)
        pos += len(piece)
        bounds.append(pos)
        pos += 1
    hits = engine.raw_hits(joined, bounds, budget_size=len(data))
    if not hits:
        return []
    placed: list[tuple[Finding, int]] = []
    for finding in engine.findings(hits):
        seg = (bisect.bisect_right(bounds, finding.start) - 1) // 2
        _, _, head, length = layout[seg]
        lo = bounds[2 * seg] + head
        if lo <= finding.start and finding.end <= lo + length:
            placed.append((finding, seg))
    if not placed:
        return []
    locator = _Locator(obj, data)
    parts_of: dict[int, Parts] = {}
    for _, seg in placed:
        start, kind, _, _ = layout[seg]
        if seg not in parts_of:
            parts = locator.parts(start, units.units[start][0] >= 0)
            parts_of[seg] = (*parts, KEY_MARK) if kind == _KEY else parts
    masked = frozenset(parts_of[seg][:-1] for _, seg in placed if layout[seg][1] == _KEY)
    chars = _char_offsets(joined, bounds, layout, placed)
    out: list[Finding] = []
    for finding, seg in placed:
        base = chars[bounds[2 * seg] + layout[seg][2]]
        path = path_string(parts_of[seg], masked)
        out.append(finding.at(chars[finding.start] - base, chars[finding.end] - base, path))
    return out


def _char_offsets(
    joined: bytes, bounds: list[int], layout: list[tuple[int, int, int, int]], placed: list[tuple[Finding, int]]
) -> dict[int, int]:
    """Byte offset -> character offset (counted from any fixed point per string: only
    differences are used) for every finding's edges and its string's start; each string is
    decoded at most once, in order."""
    wanted: dict[int, set[int]] = {}
    for finding, seg in placed:
        lo = bounds[2 * seg] + layout[seg][2]
        wanted.setdefault(lo, {lo}).update((finding.start, finding.end))
    out: dict[int, int] = {}
    for offsets in wanted.values():
        ordered = sorted(offsets)
        first = ordered[0]
        if joined[first : ordered[-1]].isascii():
            out.update((off, off) for off in ordered)
            continue
        prev, count = first, 0
        for off in ordered:
            count += _char_len(joined[prev:off])
            prev = off
            out[off] = count
    return out


def _string_bytes(data: bytes, s: int, e: int) -> bytes:
    """The UTF-8 text of the JSON string whose quotes are at ``s`` and ``e - 1``."""
    raw = data[s + 1 : e - 1]
    if b"\\" not in raw:
        return raw
    return orjson.loads(data[s:e]).encode("utf-8", "surrogatepass")


def _char_len(piece: bytes) -> int:
    return len(piece.decode("utf-8", "ignore"))


_CHUNKS = 32


class _Locator:
    """Works out the path of the member or element that starts at a serialized offset, by
    descending ``obj``: in each container, halves are serialized and measured until one
    child is left. Large containers are first measured in _CHUNKS chunks, once, so that the
    paths of several findings in one long list cost little more than one."""

    def __init__(self, obj: Any, data: bytes):
        self.obj = obj
        self.data = data
        self._lengths: dict[tuple[int, int, int], int] = {}
        self._chunks: dict[int, tuple[int, list[int]]] = {}

    def _chunk(self, node: Any, items: Any, rel: int) -> tuple[int, int, int]:
        """(first child, end child, offset of the first child relative to the container's
        first child) of the chunk of ``node`` that holds relative offset ``rel``."""
        n = len(items)
        got = self._chunks.get(id(node))
        if got is None:
            step = -(-n // _CHUNKS)
            offsets = [0]
            for lo in range(0, n, step):
                offsets.append(offsets[-1] + self._length(node, items, lo, min(n, lo + step)) + 1)
            got = self._chunks[id(node)] = (step, offsets)
        step, offsets = got
        i = min(bisect.bisect_right(offsets, rel) - 1, len(offsets) - 2)
        return i * step, min(n, (i + 1) * step), offsets[i]

    def _length(self, node: Any, items: Any, lo: int, hi: int) -> int:
        """Serialized length of children ``lo:hi`` of ``node`` with their separators."""
        key = (id(node), lo, hi)
        size = self._lengths.get(key)
        if size is None:
            part = dict(items[lo:hi]) if isinstance(node, dict) else items[lo:hi]
            size = self._lengths[key] = len(orjson.dumps(part, option=_SERIALIZE_OPTIONS)) - 2
        return size

    def parts(self, target: int, member: bool) -> Parts:
        """Path parts of the unit starting at ``target``: a member (its key string starts
        there) or an element / the root (its value starts there)."""
        labels: list[Any] = []
        node, base = self.obj, 0
        while True:
            if base == target and not member:
                return tuple(labels)
            is_dict = isinstance(node, dict)
            if not is_dict and not isinstance(node, list | tuple):
                raise RuntimeError("JSON locate mismatch: the value changed during the scan")
            items = list(node.items()) if is_dict else node
            lo, hi, off = 0, len(items), base + 1
            if hi > 2 * _CHUNKS:
                lo, hi, first = self._chunk(node, items, target - off)
                off += first
            while hi - lo > 1:
                mid = (lo + hi) // 2
                size = self._length(node, items, lo, mid)
                if target < off + size:
                    hi = mid
                else:
                    off += size + 1
                    lo = mid
            if is_dict:
                name, child = items[lo]
                labels.append((name, lo))
                if off == target and member:
                    return tuple(labels)
                off += len(orjson.dumps(name)) + 1
            else:
                child = items[lo]
                labels.append(lo)
            node, base = child, off
