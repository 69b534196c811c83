"""A tiny watchdog that kills the upstream's whole process group if the gateway dies.

``PR_SET_PDEATHSIG`` (``launch.child_preexec``) reaches only the gateway's direct child. What
that child starts (a browser, a language server, the real server behind ``npx`` or ``uvx``)
would outlive a ``kill -9`` of the gateway. So the gateway starts one ``/bin/sh`` in its own
session, holding the read end of a pipe; the gateway writes the current upstream's process
group id to it after each start, and ``0`` once that group is gone. When the pipe closes
(the gateway exited, however it ended) the shell kills the last group it was told of, then
exits. It costs one small process per gateway and one ``write`` per upstream start or exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess

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
