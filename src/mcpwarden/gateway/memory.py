"""Giving freed heap back to the OS.

glibc keeps the memory of freed large buffers in the process (its mmap threshold rises to
the largest buffer freed), so after one 1 MB message the gateway stays ~8 MB larger for good.
Calling ``malloc_trim`` after every large message would cost ~0.5 ms and fresh page faults
each time; instead ``HeapTrimmer`` trims once traffic of large messages has paused.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import re
import time
from collections.abc import Callable

LARGE_MESSAGE_BYTES = 256 * 1024
"""Messages from this size on leave heap behind worth trimming."""
IDLE_SECONDS = 0.1
"""Trim after this long without a large message."""


def _load_malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # type: ignore[no-any-return]
    except (OSError, AttributeError):  # not glibc
        return None


_malloc_trim = _load_malloc_trim()


def trim_heap() -> bool:
    """Return free heap pages to the OS (glibc only). True if it was possible."""
    if _malloc_trim is None:
        return False
    _malloc_trim(0)
    return True


def release_startup_memory() -> None:
    """After start-up: drop what compiling the policy and the engine left behind, and move the
    long-lived start-up objects out of the collector's way (``gc.freeze``), so full collections
    no longer walk them on the message path."""
    re.purge()
    gc.collect()
    gc.freeze()
    trim_heap()


class HeapTrimmer:
    """``saw(size)`` after handling a message; a trim follows ``IDLE_SECONDS`` after the last large one."""

    __slots__ = ("_idle", "_last_large", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop, idle: float = IDLE_SECONDS):
        self._loop = loop
        self._idle = idle
        self._last_large = 0.0
        self._scheduled = False

    def saw(self, size: int) -> None:
        if size < LARGE_MESSAGE_BYTES or _malloc_trim is None:
            return
        self._last_large = time.monotonic()
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_later(self._idle, self._maybe_trim)

    def _maybe_trim(self) -> None:
        quiet_for = time.monotonic() - self._last_large
        if quiet_for < self._idle:  # still busy: look again when it could have gone quiet
            self._loop.call_later(self._idle - quiet_for, self._maybe_trim)
            return
        self._scheduled = False
        trim_heap()
