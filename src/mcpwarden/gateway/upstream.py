"""One stdio upstream server process: start it, exchange lines with it, notice its exit,
and stop it (close stdin, wait, SIGTERM, wait, SIGKILL — to its whole process group)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from mcpwarden.errors import UpstreamError, shown_command
from mcpwarden.gateway.launch import LaunchPlan, child_preexec
from mcpwarden.gateway.reaper import GroupReaper, become_subreaper, kill_adopted, reap_adopted
from mcpwarden.gateway.stream import STREAM_AFTER
from mcpwarden.wire.framing import LineSplitter, Oversize
from mcpwarden.wire.stdio import FdReader, FdWriter, enlarge_pipe

log = logging.getLogger("mcpwarden.upstream")


class StdioUpstream:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        launch: LaunchPlan,
        on_line: Callable[[bytes | Oversize], None],
        on_exit: Callable[[int | None], None],
        on_backlog: Callable[[bool], None],
        max_bytes: int,
    ):
        self.loop = loop
        self.name = name
        self.launch = launch
        self.on_line = on_line
        self.on_exit = on_exit
        self.on_backlog = on_backlog
        self.max_bytes = max_bytes
        self.on_partial: Callable[[bytearray | None], None] | None = None
        """Called with a large line's part gathered so far, after each read that adds to it
        (None while a line longer than ``max_bytes`` is being dropped)."""
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: FdReader | None = None
        self.writer: FdWriter | None = None
        self._pidfd: int | None = None
        self._exit_reported = False
        self._splitter = LineSplitter(max_bytes)
        self._reaper = GroupReaper()
        """Kills what the server started if the gateway dies without doing it (kill -9)."""
        self._stopping = False
        become_subreaper()  # descendants that leave the group come back to us (see gateway.reaper)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.returncode is None and not self._exit_reported

    def start(self) -> None:
        plan = self.launch
        extra = getattr(plan, "preexec", None)
        try:
            self.proc = subprocess.Popen(
                plan.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=None,
                env=plan.env,
                cwd=plan.cwd,
                pass_fds=plan.pass_fds,
                start_new_session=True,
                preexec_fn=child_preexec(os.getpid(), extra),
                bufsize=0,
            )
        except OSError as exc:
            raise UpstreamError(
                f"cannot start upstream server '{self.name}' ({shown_command(plan.argv[0])}): {exc.strerror or exc}"
            ) from exc
        except subprocess.SubprocessError as exc:
            raise UpstreamError(f"cannot start upstream server '{self.name}': {exc}") from exc
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._reaper.watch(self.proc.pid)  # its own session: the process group id is its pid
        self._exit_reported = False
        self._splitter = LineSplitter(self.max_bytes)
        in_fd, out_fd = self.proc.stdin.fileno(), self.proc.stdout.fileno()
        enlarge_pipe(in_fd)
        if self.on_partial is None:
            # Held whole, a large message is best read in one go. Streamed, it goes on sooner
            # from a default-sized pipe: the server's writing, the gateway's checks and the
            # client's reading then overlap, 64 KiB at a time.
            enlarge_pipe(out_fd)
        self.writer = FdWriter(self.loop, in_fd, self._write_failed, self.on_backlog)
        self.reader = FdReader(self.loop, out_fd, self._data, self._eof)
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
            self.loop.add_reader(self._pidfd, self._exited)
        except (AttributeError, OSError):
            self._pidfd = None
            self.loop.create_task(self._poll_exit())
        log.info("started upstream '%s' (pid %d)", self.name, self.proc.pid)

    def send(self, body: bytes) -> bool:
        if self.writer is None or self.writer.closed or not self.running:
            return False
        self.writer.write_line(body)
        return True

    def _data(self, buffer: Any, n: int) -> None:
        splitter = self._splitter
        for line in splitter.feed(buffer, n):
            self.on_line(line)
        if self.on_partial is not None:
            if splitter.buffered >= STREAM_AFTER:
                self.on_partial(splitter.partial)
            elif splitter.pending and not splitter.buffered:  # an oversized line is being dropped
                self.on_partial(None)

    def _eof(self) -> None:
        # stdout closed: the process is ending or has closed its protocol channel; either way it
        # is gone. While stopping, ``stop`` gives it its grace periods instead.
        if self.proc is not None and not self._stopping and not _has_exited(self.proc):
            self.loop.call_later(0.2, self._kill_if_alive, self.proc)

    def _kill_if_alive(self, proc: subprocess.Popen[bytes]) -> None:
        if proc is self.proc and not self._stopping and not _has_exited(proc):
            log.warning("upstream '%s' closed its stdout but did not exit; killing it", self.name)
            self._signal(signal.SIGKILL)

    def _write_failed(self, exc: OSError) -> None:
        log.warning("upstream '%s' stopped reading its stdin: %s", self.name, exc.strerror or exc)

    def _drain_stdout(self) -> None:
        """Deliver what the process wrote before it exited."""
        if self.reader is None or self.reader.closed:
            return
        fd = self.reader.fd
        for _ in range(10_000):
            try:
                chunk = os.read(fd, 1 << 20)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            if not chunk:
                break
            self._data(chunk, len(chunk))
        self.reader.close()

    def _exited(self) -> None:
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        self._report_exit()

    async def _poll_exit(self) -> None:
        proc = self.proc
        while proc is not None and not _has_exited(proc):
            await asyncio.sleep(0.05)
        if proc is self.proc:
            self._report_exit()

    def _report_exit(self) -> None:
        if self._exit_reported or self.proc is None:
            return
        self._kill_group()  # before reaping: until then the group id cannot name anyone else's group
        code = self.proc.wait()
        self._end_adopted()
        self._drain_stdout()
        if self.writer is not None:
            self.writer.close()
        with contextlib.suppress(OSError):
            self.proc.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(OSError):
            self.proc.stdout.close()  # type: ignore[union-attr]
        self._exit_reported = True
        self.on_exit(code)

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def _kill_group(self) -> None:
        """Whatever the server left behind in its process group goes with it. Only while the
        server is not yet reaped: after that its pid, and so the group id, may be reused by an
        unrelated process."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._reaper.watch(0)

    def reap_adopted(self) -> None:
        """Collect descendants adopted by the gateway that ended on their own (on SIGCHLD)."""
        reap_adopted(self._not_adopted())

    def _end_adopted(self) -> None:
        """The server is gone: what it started outside its group, and was adopted, goes too."""
        ended = kill_adopted(self._not_adopted())
        if ended:
            log.info("ended %d process(es) upstream '%s' had started outside its process group", ended, self.name)

    def _not_adopted(self) -> set[int]:
        """The gateway's own children: the current server (until reaped) and the watchdog."""
        own = {self._reaper.pid}
        if self.proc is not None and self.proc.returncode is None:
            own.add(self.proc.pid)
        return {pid for pid in own if pid is not None}

    async def stop(self, grace: float) -> int | None:
        """Close stdin, wait; SIGTERM, wait; SIGKILL. Returns the exit code. The first wait
        includes the time given to what was still queued for the server's stdin."""
        proc = self.proc
        if proc is None:
            return None
        self._stopping = True
        if not _has_exited(proc):
            first_deadline = self.loop.time() + grace
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.writer.drain(), grace)
                self.writer.close()
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            for sig in (None, signal.SIGTERM, signal.SIGKILL):
                if sig is not None:
                    log.info("upstream '%s' still running; sending %s", self.name, signal.Signals(sig).name)
                    self._signal(sig)
                wait = max(0.0, first_deadline - self.loop.time()) if sig is None else grace
                if await self._wait(proc, wait if sig != signal.SIGKILL else 5.0):
                    break
        self._exit_reported = True
        if self._pidfd is not None:
            with contextlib.suppress(Exception):
                self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None
        if self.reader is not None:
            self.reader.close()
        self._kill_group()
        proc.poll()  # reaps it, after the group kill
        self._end_adopted()
        self._reaper.close()
        return proc.returncode

    @staticmethod
    async def _wait(proc: subprocess.Popen[bytes], timeout: float) -> bool:
        deadline = asyncio.get_running_loop().time() + timeout
        delay = 0.005
        while not _has_exited(proc):
            if asyncio.get_running_loop().time() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return True


def _has_exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether ``proc`` has ended, without reaping it (``Popen.poll`` would): while it is an
    unreaped zombie its pid cannot be reused, so signalling its process group stays safe."""
    if proc.returncode is not None:
        return True
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True
