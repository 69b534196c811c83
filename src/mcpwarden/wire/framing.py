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

from dataclasses import dataclass
from typing import Protocol


class Buffer(Protocol):
    def find(self, sub: bytes, start: int = ..., end: int = ..., /) -> int: ...
    def __getitem__(self, index: slice, /) -> bytes | bytearray: ...
    def __len__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Oversize:
    """Stands for a line that was longer than the limit and was dropped."""

    size: int


class LineSplitter:
    __slots__ = ("_buf", "_discarded", "_discarding", "max_bytes")

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._buf = bytearray()
        self._discarding = False
        self._discarded = 0

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
            if nl < 0:
                self._discarded += end
                return out
            out.append(Oversize(self._discarded + nl))
            self._discarding = False
            self._discarded = 0
            start = nl + 1
        elif self._buf:
            nl = data.find(b"\n", 0, end)
            if nl < 0:
                if len(self._buf) + end > self.max_bytes:
                    self._start_discarding(len(self._buf) + end)
                else:
                    self._buf += memoryview(data)[:end]
                return out
            if len(self._buf) + nl > self.max_bytes:
                out.append(Oversize(len(self._buf) + nl))
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
                    self._start_discarding(rest)
                else:
                    self._buf += memoryview(data)[start:end]
                break
            if nl - start > max_bytes:
                out.append(Oversize(nl - start))
            elif nl > start:
                line = data[start:nl]
                if not line.isspace():
                    out.append(line)
            start = nl + 1
        return out

    def _start_discarding(self, size: int) -> None:
        self._buf = bytearray()
        self._discarding = True
        self._discarded = size
