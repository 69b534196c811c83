"""Helpers for sandbox tests: run a small Python program inside a real sandbox, the way the
gateway spawns servers, and collect its output and the audit records."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mcpwarden.policy.schema import Policy
from mcpwarden.sandbox import Capabilities, Launch, prepare, probe

SYSTEM_PYTHON = "/usr/bin/python3"
RUN_TIMEOUT = 30.0


def bwrap_works() -> bool:
    return probe().tier == "bwrap"


needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap with user namespaces is not available here")
needs_python = pytest.mark.skipif(not os.path.exists(SYSTEM_PYTHON), reason=f"{SYSTEM_PYTHON} is not installed")


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    launch: Launch
    audit: list[dict[str, Any]] = field(default_factory=list)


async def spawn(launch: Launch, timeout: float = RUN_TIMEOUT) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *launch.argv, env=launch.env, cwd=launch.cwd, pass_fds=launch.pass_fds, preexec_fn=launch.preexec,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


def tserver(entry: dict[str, Any], name: str = "t") -> tuple[Policy, Any]:
    policy = Policy.model_validate({"servers": {name: entry}})
    return policy, policy.servers[name]


async def run_python(
    code: str,
    entry: dict[str, Any],
    state_dir: Path,
    *,
    capabilities: Capabilities | None = None,
    allow_loopback: bool = False,
    during: Any = None,
    environ: dict[str, str] | None = None,
) -> Result:
    """Run ``python3 -I -c code`` in a sandbox built from ``entry`` (the server entry minus command)."""
    policy, server = tserver({"command": SYSTEM_PYTHON, "args": ["-I", "-c", code], **entry})
    audit: list[dict[str, Any]] = []
    launch = await prepare("t", server, policy, audit.append, capabilities=capabilities, state_dir=state_dir,
                           egress_allow_loopback=allow_loopback, environ=environ)
    try:
        code_, out, err = await spawn(launch)
    finally:
        await launch.close()
    return Result(code_, out, err, launch, audit)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path


@pytest.fixture
def host_files(tmp_path: Path) -> Path:
    """A fake home with an SSH key and a .env file, never listed in any policy."""
    home = tmp_path / "hosthome"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("PRIVATE-KEY-CANARY\n")
    (home / ".env").write_text("API_KEY=env-file-canary\n")
    return home


def which_or_skip(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
