"""Streaming: scan input that arrives in chunks, with findings across chunk boundaries.

The scanner collects chunks until STEP bytes have arrived, then scans them together with
the last 2 x OVERLAP bytes it scanned before. A finding is reported once it ends at least
OVERLAP bytes before the end of what has arrived (so every byte of context a rule or decoder
may look at has been seen), or at ``close()``; so findings arrive late by up to STEP +
OVERLAP bytes, and rescanning costs at most 2 x OVERLAP / STEP extra. Offsets are absolute
byte offsets in the whole stream. Memory is bounded by 2 x OVERLAP + STEP + the largest
chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcpwarden.detect import decoders
from mcpwarden.detect.finding import Finding
from mcpwarden.detect.rule import MAX_MATCH_WIDTH

if TYPE_CHECKING:
    from mcpwarden.detect.engine import Engine

OVERLAP = 4 * MAX_MATCH_WIDTH + 2 * decoders.MAX_TOKEN + 1024
STEP = 2 * 1024 * 1024


class StreamScanner:
    def __init__(self, engine: Engine):
        self.engine = engine
        self._carry = b""
        self._base = 0
        """Absolute offset of ``_carry[0]``."""
        self._reported_upto = 0
        """Findings ending at or before this absolute offset have been reported."""
        self._closed = False
        self._pending: list[bytes] = []
        self._pending_size = 0

    def feed(self, chunk: bytes) -> list[Finding]:
        if self._closed:
            raise ValueError("feed() after close()")
        if not chunk:
            return []
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        if self._pending_size < STEP:
            return []
        buf = self._carry + b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        safe_end = len(buf) - OVERLAP
        if safe_end <= 0:
            self._carry = buf
            return []
        out = self._report(buf, safe_end)
        keep_from = max(0, safe_end - OVERLAP)
        self._carry = buf[keep_from:]
        self._base += keep_from
        return out

    def close(self) -> list[Finding]:
        if self._closed:
            return []
        self._closed = True
        buf = self._carry + b"".join(self._pending)
        self._pending, self._pending_size = [], 0
        out = self._report(buf, len(buf))
        self._carry = b""
        return out

    def _report(self, buf: bytes, safe_end: int) -> list[Finding]:
        low = self._reported_upto - self._base
        out = [f.moved(self._base) for f in self.engine.scan_bytes(buf) if low < f.end <= safe_end]
        self._reported_upto = self._base + safe_end
        return out
