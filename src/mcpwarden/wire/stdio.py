"""Non-blocking reading and writing of file descriptors on the asyncio loop, without
per-message tasks: the reader calls back with each chunk, the writer buffers what the
pipe cannot take yet. Used for the client's stdin/stdout and for upstream pipes."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import mmap
import os
import threading
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

READ_SIZE = 4 << 20
CUT_SHORT = b"\x00\n"
"""How a streamed line that must not stand ends (``FdWriter.end_partial``)."""
WRITEV_PIECES = 64  # well under IOV_MAX (1024)
PIPE_SIZES = (4 << 20, 1 << 20)
F_SETPIPE_SZ = 1031


def enlarge_pipe(fd: int) -> None:
    """Ask for a large pipe buffer so a megabyte message crosses in one write and one read
    (4 MiB where allowed, else the unprivileged maximum of 1 MiB). Best effort."""
    for size in PIPE_SIZES:
        try:
            fcntl.fcntl(fd, F_SETPIPE_SZ, size)
            return
        except OSError:
            continue


class FdReader:
    """Calls ``on_data(buffer, n)`` for every chunk read from ``fd`` (the chunk is
    ``buffer[:n]``) and ``on_eof()`` once at the end. ``buffer`` is the reader's own and is
    read into again after the call: ``on_data`` copies what it keeps (``LineSplitter.feed``
    does), so a chunk is copied once, not twice."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        on_data: Callable[[Any, int], None],
        on_eof: Callable[[], None],
    ):
        self.loop = loop
        self.fd = fd
        self.on_data = on_data
        self.on_eof = on_eof
        self.paused = False
        self.closed = False
        self._thread: threading.Thread | None = None
        # An anonymous mapping: its pages cost memory only once a large message has used them.
        self._buffer = mmap.mmap(-1, READ_SIZE)
        self._resume = threading.Event()
        self._resume.set()
        try:
            os.set_blocking(fd, False)
            loop.add_reader(fd, self._readable)
        except (PermissionError, ValueError, OSError):
            # Regular files cannot be polled: read them on a thread instead.
            os.set_blocking(fd, True)
            self._thread = threading.Thread(target=self._thread_main, name=f"fd-reader-{fd}", daemon=True)
            self._thread.start()

    def _readable(self) -> None:
        try:
            n = os.readv(self.fd, (self._buffer,))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            n = 0
        if n:
            self.on_data(self._buffer, n)
        else:
            self._finish()

    def _finish(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._thread is None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self.fd)
        self.on_eof()

    def _thread_main(self) -> None:
        while True:
            self._resume.wait()
            try:
                data = os.read(self.fd, READ_SIZE)
            except OSError:
                data = b""
            if self.closed:
                return
            try:
                if data:
                    self.loop.call_soon_threadsafe(self.on_data, data, len(data))
                else:
                    self.loop.call_soon_threadsafe(self._finish)
                    return
            except RuntimeError:  # loop closed
                return

    def pause(self) -> None:
        if self.paused or self.closed:
            return
        self.paused = True
        if self._thread is None:
            self.loop.remove_reader(self.fd)
        else:
            self._resume.clear()

    def resume(self) -> None:
        if not self.paused or self.closed:
            return
        self.paused = False
        if self._thread is None:
            self.loop.add_reader(self.fd, self._readable)
        else:
            self._resume.set()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self._thread is None:
                with contextlib.suppress(Exception):
                    self.loop.remove_reader(self.fd)


class FdWriter:
    """Writes whole lines to ``fd``; buffers when the pipe is full and tells the caller via
    ``on_backlog(True/False)`` when the buffer crosses ``high_water`` so it can pause its source."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        fd: int,
        on_error: Callable[[OSError], None],
        on_backlog: Callable[[bool], None] | None = None,
        high_water: int = 8 << 20,
    ):
        self.loop = loop
        self.fd = fd
        self.on_error = on_error
        self.on_backlog = on_backlog
        self.high_water = high_water
        self._queue: deque[memoryview] = deque()
        self._queued = 0
        self._waiting = False
        self._backlogged = False
        self.closed = False
        self._drained: list[asyncio.Future[None]] = []
        self._after_flush: list[Callable[[], None]] = []
        self._held: list[bytes] | None = None
        """Lines waiting for a streamed line to end (None: no line is being streamed)."""
        with contextlib.suppress(OSError):
            os.set_blocking(fd, False)

    def write_line(self, body: bytes) -> None:
        if self.closed:
            return
        if self._held is not None:  # a line is being streamed: this one waits its turn
            self._held.append(body)
            return
        self._write((body, b"\n"))

    def write_partial(self, data: bytes) -> None:
        """Write the next bytes of a line whose end is not known yet (a streamed response).
        Until ``end_partial``, lines given to ``write_line`` wait behind it."""
        if self.closed:
            return
        if self._held is None:
            self._held = []
        self._write((data,))

    def end_partial(self, tail: bytes) -> None:
        """End the streamed line with ``tail`` and a newline. An empty ``tail`` cuts it short:
        it then ends in ``CUT_SHORT``, a byte no JSON text may hold outside a string, so no
        parser takes the line for a message (not even when what went out happened to be a
        whole object followed by whitespace). Then the lines that waited for it follow."""
        held, self._held = self._held, None
        if self.closed:
            return
        if held is None:  # nothing of the line went out: ``tail`` is all of it
            if tail:
                self._write((tail, b"\n"))
            return
        self._write((tail, b"\n") if tail else (CUT_SHORT,))
        for body in held:
            self.write_line(body)

    @property
    def partial_open(self) -> bool:
        return self._held is not None

    @property
    def backlogged(self) -> bool:
        """More than ``high_water`` bytes wait for the pipe (the source should be paused)."""
        return self._backlogged

    def _write(self, pieces: tuple[bytes, ...]) -> None:
        """Write ``pieces`` with one writev, queueing what the pipe does not take."""
        if not self._queue:
            try:
                n = os.writev(self.fd, pieces)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError as exc:
                self._fail(exc)
                return
            for piece in pieces:
                size = len(piece)
                if n >= size:
                    n -= size
                elif n:
                    self._queue.append(memoryview(piece)[n:])
                    self._queued += size - n
                    n = 0
                else:
                    self._queue.append(memoryview(piece))
                    self._queued += size
            if not self._queue:
                return
        else:
            for piece in pieces:
                self._queue.append(memoryview(piece))
                self._queued += len(piece)
        if not self._waiting:
            self._waiting = True
            try:
                self.loop.add_writer(self.fd, self._writable)
            except (PermissionError, ValueError):
                self._flush_blocking()
                return
        if not self._backlogged and self._queued > self.high_water and self.on_backlog:
            self._backlogged = True
            self.on_backlog(True)

    def _writable(self) -> None:
        queue = self._queue
        while queue:
            # One writev for what is queued (a line's tail and its newline, or several lines).
            pieces = list(islice(queue, WRITEV_PIECES))
            try:
                n = os.writev(self.fd, pieces)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self._fail(exc)
                return
            self._queued -= n
            while queue and n >= len(queue[0]):
                n -= len(queue.popleft())
            if n:
                queue[0] = queue[0][n:]
                return
            if len(pieces) == WRITEV_PIECES:
                continue
            if queue:
                return
        self.loop.remove_writer(self.fd)
        self._waiting = False
        if self._backlogged and self.on_backlog:
            self._backlogged = False
            self.on_backlog(False)
        self._notify_drained()
        self._run_after_flush()

    def when_flushed(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once everything written so far has reached the pipe: work that is
        not on the peer's critical path (hashing, auditing) then never delays delivery."""
        if not self._queue or self.closed:
            callback()
        else:
            self._after_flush.append(callback)

    def _run_after_flush(self) -> None:
        callbacks, self._after_flush = self._after_flush, []
        for callback in callbacks:
            callback()

    def _flush_blocking(self) -> None:
        os.set_blocking(self.fd, True)
        try:
            while self._queue:
                n = os.write(self.fd, self._queue[0])
                head = self._queue.popleft()
                if n < len(head):
                    self._queue.appendleft(head[n:])
        except OSError as exc:
            self._fail(exc)
        self._queued = 0
        self._waiting = False

    def _notify_drained(self) -> None:
        for fut in self._drained:
            if not fut.done():
                fut.set_result(None)
        self._drained.clear()

    async def drain(self) -> None:
        if not self._queue or self.closed:
            return
        fut = self.loop.create_future()
        self._drained.append(fut)
        await fut

    def _fail(self, exc: OSError) -> None:
        self.close()
        self.on_error(exc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self._waiting:
            with contextlib.suppress(Exception):
                self.loop.remove_writer(self.fd)
        self._queue.clear()
        self._queued = 0
        self._held = None
        if self._backlogged:  # what was queued is gone: a source paused for it must go on
            self._backlogged = False
            if self.on_backlog:
                self.on_backlog(False)
        self._notify_drained()
        self._run_after_flush()
