"""A tiny watchdog that kills the upstream's whole process group if the gateway dies.

``PR_SET_PDEATHSIG`` (``launch.child_preexec``) reaches only the gateway's direct child. What
that child starts (a browser, a language server, the real server behind ``npx`` or ``uvx``)
would outlive a ``kill -9`` of the gateway. So the gateway starts one ``/bin/sh`` in its own
session, holding the read end of a pipe; the gateway writes the current upstream's process
group id to it after each start, and ``0`` once that group is gone. When the pipe closes
(the gateway exited, however it ended) the shell kills the last group it was told of, then
exits. It costs one small process per gateway and one ``write`` per upstream start or exit.

A descendant that starts a session of its own (``setsid``; Node's ``detached`` spawn, which
Playwright uses for its browser) leaves the group. For those the gateway is a child
subreaper (``PR_SET_CHILD_SUBREAPER``): once their parent is gone they become the gateway's
children, and ``kill_adopted`` ends them (and their groups) whenever the server exits or
is stopped; ``reap_adopted`` collects the ones that ended on their own. This covers exits the
gateway lives through, not a ``kill -9`` of the gateway itself.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time

log = logging.getLogger("mcpwarden.gateway")

WATCHDOG = (
    "trap '' INT TERM HUP; g=0; "
    'while read -r line; do g="$line"; done; '
    '[ "$g" != 0 ] && kill -s KILL -- "-$g" 2>/dev/null; exit 0'
)


class GroupReaper:
    """Kills the process group it was last told of once the gateway is gone (see module doc)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._fd: int | None = None

    @property
    def pid(self) -> int | None:
        """The watchdog's pid (a child of the gateway that must not be taken for an orphan)."""
        return self._proc.pid if self._proc is not None else None

    def watch(self, pgid: int) -> None:
        """The upstream's process group is now ``pgid`` (0: none)."""
        if self._fd is None and pgid:
            self._start()
        if self._fd is None:
            return
        try:
            os.write(self._fd, b"%d\n" % pgid)
        except OSError as exc:  # the watchdog died: PR_SET_PDEATHSIG still covers the direct child
            log.warning("the upstream's process-group watchdog is gone (%s)", exc.strerror or exc)
            self._close_fd()

    def close(self) -> None:
        """The gateway is ending cleanly and has killed the group itself: let the watchdog go."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.write(self._fd, b"0\n")
        self._close_fd()
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(1.0)

    def _start(self) -> None:
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            self._proc = subprocess.Popen(
                ["/bin/sh", "-c", WATCHDOG],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a signal to the gateway's process group must not reach it
                env={"PATH": "/usr/bin:/bin"},
            )
        except OSError as exc:
            os.close(write_end)
            log.warning("could not start the upstream's process-group watchdog: %s", exc.strerror or exc)
            return
        finally:
            os.close(read_end)
        self._fd = write_end

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


PR_SET_CHILD_SUBREAPER = 36
KILL_ROUNDS = 10
"""Killing an adopted process orphans its own children, who are adopted in turn: a few rounds."""


def become_subreaper() -> bool:
    """Make orphaned descendants of this process its children instead of init's (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_adopted(keep: set[int]) -> int:
    """SIGKILL every child of this process not in ``keep`` (the live upstream, the watchdog),
    with its process group when it leads one, and reap it. Returns how many were ended.
    Safe against pid reuse: a child is not reaped until after it was signalled, and while it
    is unreaped neither its pid nor the group id it leads can name another process."""
    ended = 0
    for _ in range(KILL_ROUNDS):
        adopted = [(pid, pgid) for pid, pgid, _state in _children() if pid not in keep]
        if not adopted:
            break
        for pid, pgid in adopted:
            if pgid == pid:
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        for pid, _pgid in adopted:
            ended += _reap(pid, 1.0)
    return ended


def reap_adopted(keep: set[int]) -> None:
    """Collect adopted children that ended on their own (no zombies pile up)."""
    for pid, _pgid, state in _children():
        if state == "Z" and pid not in keep:
            _reap(pid, 0.0)


def _reap(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return 0
        if done:
            return 1
        if time.monotonic() >= deadline:
            return 0
        time.sleep(0.005)


def _children() -> list[tuple[int, int, str]]:
    """(pid, process group, state) of each child of this process, from /proc."""
    me = os.getpid()
    found = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()  # the name before it may hold spaces
        if len(fields) > 3 and int(fields[1]) == me:
            found.append((int(entry), int(fields[2]), fields[0].decode()))
    return found

