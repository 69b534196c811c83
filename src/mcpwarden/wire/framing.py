"""Newline-delimited JSON framing on bytes (MCP's stdio transport), with a size bound.

``LineSplitter.feed(chunk)`` returns the complete lines in the chunk. A line longer than
``max_bytes`` is never held whole: the splitter drops its bytes as they arrive and, at its
newline, returns an ``Oversize`` marker so the caller can answer with an error and go on.
Memory stays bounded by ``max_bytes`` whatever the peer sends.

A line that spans chunks is gathered in a ``bytearray`` that is handed over as the line
itself (and a new one started), so a large message is copied once on its way through rather
than three times; callers treat lines as read-only bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

EDGE_BYTES = 512
"""How much of a dropped line's start and end is kept, to find the id it carried."""
_ID = rb'(-?[0-9]{1,18}|"[^"\\\x00-\x1f]{0,256}")'
_LEADING_ID = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*' + _ID + rb"\s*[,}]")
_TRAILING_ID = re.compile(rb'[,{]\s*"id"\s*:\s*' + _ID + rb"\s*\}\s*\Z")
_FIRST_MEMBER = re.compile(
    rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?(?:"id"\s*:\s*' + _ID + rb'\s*,\s*)?"(result|error|method)"\s*:'
)


class Buffer(Protocol):
    def find(self, sub: bytes, start: int = ..., end: int = ..., /) -> int: ...
    def __getitem__(self, index: slice, /) -> bytes | bytearray: ...
    def __len__(self) -> int: ...


def line_edges(line: bytes | bytearray) -> Oversize:
    """The first and last ``EDGE_BYTES`` of a whole line that cannot be parsed, read the way
    a dropped oversized line is, for its id and kind."""
    return Oversize(len(line), bytes(line[:EDGE_BYTES]), bytes(line[-EDGE_BYTES:]))


@dataclass(frozen=True, slots=True)
class Oversize:
    """Stands for a line that was longer than the limit and was dropped: its size, and its
    first and last ``EDGE_BYTES`` (where a JSON-RPC message's id usually is)."""

    size: int
    head: bytes = field(default=b"", compare=False)
    tail: bytes = field(default=b"", compare=False)

    @property
    def id(self) -> int | str | None:
        """The id of the message the line was, when its first member (after ``jsonrpc``) or
        its last one is ``"id"``, as JSON-RPC libraries write them; else None."""
        found = _LEADING_ID.match(self.head) or _TRAILING_ID.search(self.tail)
        if found is None:
            return None
        raw = found.group(1)
        if raw[:1] == b'"':
            return raw[1:-1].decode("ascii") if raw.isascii() else None
        return int(raw)

    @property
    def kind(self) -> str | None:
        """``request`` or ``response``, from the first member after ``jsonrpc`` and ``id``
        (``method``; ``result`` or ``error``), when the line starts the usual way; else None."""
        found = _FIRST_MEMBER.match(self.head)
        if found is None:
            return None
        return "request" if found.group(2) == b"method" else "response"


class LineSplitter:
    __slots__ = ("_buf", "_discarded", "_discarding", "_head", "_tail", "max_bytes")

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False
        self._discarded = 0
        self._head = b""
        self._tail = b""

    @property
    def pending(self) -> int:
        """Bytes of an incomplete line held (or being dropped)."""
        return self._discarded if self._discarding else len(self._buf)

    @property
    def partial(self) -> bytearray:
        """The incomplete line gathered so far (read-only for callers)."""
        return self._buf

    @property
    def buffered(self) -> int:
        """Bytes of an incomplete line held in memory (none while one is being dropped)."""
        return len(self._buf)

    def feed(self, data: Buffer, end: int | None = None) -> list[bytes | bytearray | Oversize]:
        """The lines completed by ``data[:end]`` (all of ``data`` when ``end`` is None).
        ``data`` is anything with ``find`` and slicing (bytes, bytearray, mmap); what the
        splitter keeps of it is copied, so a reader may reuse its buffer afterwards."""
        out: list[bytes | bytearray | Oversize] = []
        start = 0
        if end is None:
            end = len(data)
        if self._discarding:
            nl = data.find(b"\n", 0, end)
            stop = end if nl < 0 else nl
            self._tail = (self._tail + data[max(0, stop - EDGE_BYTES) : stop])[-EDGE_BYTES:]
            if nl < 0:
                self._discarded += end
                return out
            out.append(Oversize(self._discarded + nl, self._head, self._tail))
            self._discarding = False
            self._discarded = 0
            self._head = self._tail = b""
            start = nl + 1
        elif self._buf:
            nl = data.find(b"\n", 0, end)
            if nl < 0:
                if len(self._buf) + end > self.max_bytes:
                    self._start_discarding(len(self._buf) + end, bytes(self._buf[:EDGE_BYTES]), data, 0, end)
                else:
                    self._buf += memoryview(data)[:end]
                return out
            if len(self._buf) + nl > self.max_bytes:
                head = bytes(self._buf[:EDGE_BYTES])
                head += data[: EDGE_BYTES - len(head)] if len(head) < EDGE_BYTES else b""
                tail = (bytes(self._buf[-EDGE_BYTES:]) + data[max(0, nl - EDGE_BYTES) : nl])[-EDGE_BYTES:]
                out.append(Oversize(len(self._buf) + nl, head, tail))
                self._buf.clear()
            else:
                line = self._buf
                line += memoryview(data)[:nl]
                self._buf = bytearray()
                if not line.isspace():
                    out.append(line)
            start = nl + 1
        max_bytes = self.max_bytes
        while start < end:
            nl = data.find(b"\n", start, end)
            if nl < 0:
                rest = end - start
                if rest > max_bytes:
                    self._start_discarding(rest, b"", data, start, end)
                else:
                    self._buf += memoryview(data)[start:end]
                break
            if nl - start > max_bytes:
                out.append(Oversize(nl - start, data[start : start + EDGE_BYTES], data[nl - EDGE_BYTES : nl]))
            elif nl > start:
                line = data[start:nl]
                if not line.isspace():
                    out.append(line)
            start = nl + 1
        return out

    def _start_discarding(self, size: int, kept: bytes, data: Buffer, start: int, end: int) -> None:
        """Drop the rest of a line that is ``size`` bytes so far: ``kept`` (its first bytes
        held before) and ``data[start:end]`` are all of it; only its edges are kept."""
        head = kept + data[start : start + EDGE_BYTES - len(kept)] if len(kept) < EDGE_BYTES else kept
        self._head = bytes(head)
        # The line's last bytes: the held part's end, then this chunk's (a short chunk may not fill them).
        self._tail = (bytes(self._buf[-EDGE_BYTES:]) + bytes(data[max(start, end - EDGE_BYTES) : end]))[-EDGE_BYTES:]
        self._buf = bytearray()
        self._discarding = True
        self._discarded = size
