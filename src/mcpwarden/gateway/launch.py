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


class PlainLaunch:
    """The bare command with the gateway's environment: what a server gets without a sandbox."""

    def __init__(self, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None):
        self.argv = argv
        self.env = dict(os.environ if env is None else env)
        self.pass_fds: tuple[int, ...] = ()
        self.cwd = cwd
        self.report = {"sandbox": "off"}

    def preexec(self) -> None:
        return None

    async def close(self) -> None:
        return None


SANDBOX_KEYS = ("filesystem", "network", "env", "secrets", "limits", "require")


async def prepare_launch(name: str, server: Any, policy: Any, audit: Callable[[dict[str, Any]], None]) -> LaunchPlan:
    """The launch plan for ``server``: through the sandbox when the sandbox module is present."""
    try:
        from mcpwarden.sandbox import prepare
    except ImportError:
        if any(getattr(server, key) for key in SANDBOX_KEYS):
            from mcpwarden.errors import SandboxError

            raise SandboxError(f"server '{name}' declares sandbox settings but the sandbox is not available") from None
        return PlainLaunch([server.command, *server.args], server.cwd)
    return await prepare(name, server, policy, audit)
