"""How an upstream process is started: the sandbox's launch plan, or the bare command.

The sandbox (``mcpwarden.sandbox.prepare``) decides; this module only adds what the
gateway itself needs in every child: die with the gateway (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable
from typing import Any, Protocol

PR_SET_PDEATHSIG = 1


class LaunchPlan(Protocol):
    argv: list[str]
    env: dict[str, str]
    pass_fds: tuple[int, ...]
    cwd: str | None
    report: Any

    def preexec(self) -> None: ...

    async def close(self) -> None: ...


def child_preexec(parent_pid: int, extra: Callable[[], None] | None) -> Callable[[], None]:
    """The function run in the forked child before exec."""
    libc = ctypes.CDLL(None, use_errno=True)

    def preexec() -> None:
        # Die with the gateway, even on kill -9. If the gateway already died, stop now.
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:
            os._exit(1)
        if extra is not None:
            extra()

    return preexec

