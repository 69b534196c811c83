"""The keyword gate: every place where one of the rules' keywords occurs.

Two implementations give exactly the same hits: every occurrence (overlapping ones
included) of every keyword, matched ASCII-case-insensitively, as ``(keyword index, start)``
pairs. ``HyperscanGate`` uses one Vectorscan literal database; ``PythonGate`` lower-cases
the buffer once and runs ``bytes.find`` per keyword. Rule regexes run only near these hits.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

try:
    import hyperscan
except ImportError:  # optional extra "fast"
    hyperscan = None

HAVE_HYPERSCAN = hyperscan is not None


class PythonGate:
    """Pure-Python gate: ``bytes.lower()`` then ``bytes.find`` for each keyword."""

    kind = "python"

    def __init__(self, keywords: Sequence[bytes]):
        self.keywords = [k.lower() for k in keywords]

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        lowered = data.lower()
        out: list[tuple[int, int]] = []
        for index, keyword in enumerate(self.keywords):
            find = lowered.find
            pos = find(keyword)
            while pos >= 0:
                out.append((index, pos))
                pos = find(keyword, pos + 1)
        return out


class HyperscanGate:
    """One Vectorscan block-mode database of caseless literals; a scratch per thread."""

    kind = "hyperscan"

    def __init__(self, keywords: Sequence[bytes]):
        if hyperscan is None:
            raise RuntimeError("hyperscan is not installed")
        self.keywords = [k.lower() for k in keywords]
        self._lengths = [len(k) for k in self.keywords]
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        if self.keywords:
            self._db.compile(
                expressions=self.keywords,
                ids=list(range(len(self.keywords))),
                elements=len(self.keywords),
                flags=hyperscan.HS_FLAG_CASELESS,
                literal=True,
            )
        self._local = threading.local()

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = hyperscan.Scratch(self._db)
            self._local.scratch = scratch
        return scratch

    def hits(self, data: bytes) -> list[tuple[int, int]]:
        if not self.keywords or not data:
            return []
        ends: list[tuple[int, int]] = []
        append = ends.append

        def on_match(kw: int, _start: int, end: int, _flags: int, _ctx: Any) -> None:
            append((kw, end))

        self._db.scan(data, match_event_handler=on_match, scratch=self._scratch())
        lengths = self._lengths
        return [(kw, end - lengths[kw]) for kw, end in ends]


def make_gate(keywords: Sequence[bytes], kind: str = "auto") -> PythonGate | HyperscanGate:
    """``kind``: "auto" (hyperscan when installed), "hyperscan" or "python"."""
    if kind == "python" or (kind == "auto" and not HAVE_HYPERSCAN):
        return PythonGate(keywords)
    return HyperscanGate(keywords)
