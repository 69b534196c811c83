"""A server run by a virtualenv's interpreter: ``bin/python`` is a symlink (often a chain of
them, into another prefix). Binding the executable on top of a read-only bound venv used to fail
with "bwrap: Can't create file at .../bin/python"; each hop of the chain must exist inside."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mcpwarden.sandbox import bwrap, prepare

from .conftest import needs_bwrap, run_python, spawn, tserver

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    assert (path / "bin" / "python").is_symlink()
    return path


def test_hops_inside_a_bound_directory_are_not_bound_again(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    plan = bwrap.plan_binds([str(venv)], [], python)
    assert str(venv) in plan.read
    assert not [p for p in plan.read if p.startswith(str(venv) + "/")]
    real = os.path.realpath(python)
    assert real in plan.read or real.startswith(("/usr/", "/bin/"))


def test_chain_outside_bound_directories_is_bound_hop_by_hop(venv: Path) -> None:
    python = str(venv / "bin" / "python")
    chain = bwrap.symlink_chain(python)
    assert chain[0] == python and chain[-1] == os.path.realpath(python)
    plan = bwrap.plan_binds([], [], python)
    assert [p for p in chain if not p.startswith(("/usr/", "/bin/"))] == plan.read


@needs_bwrap
async def test_venv_interpreter_runs_with_its_venv_read_only(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    policy, server = tserver({
        "command": python,
        "args": ["-I", "-c", "import sys; print(sys.prefix)"],
        "filesystem": {"read": [str(venv), sys.base_prefix]},
    })
    state = tmp_path / "state"
    state.mkdir()
    launch = await prepare("t", server, policy, lambda record: None, state_dir=state)
    try:
        code, out, err = await spawn(launch)
    finally:
        await launch.close()
    assert "Can't create file" not in err
    assert code == 0, err
    assert out.strip() == str(venv)


@needs_bwrap
async def test_writing_into_the_read_only_venv_is_refused(venv: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    code = f"open({str(venv / 'planted')!r}, 'w')"
    result = await run_python(code, {"filesystem": {"read": [str(venv)]}}, state)
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr
    assert not (venv / "planted").exists()
