"""`mcpwarden doctor` as a real command, a Launch spawned again after a crash, and the proxy
answering malformed requests."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mcpwarden.sandbox import prepare
from mcpwarden.sandbox.egress_proxy import EgressProxy
from mcpwarden.sandbox.egress_rules import EgressRules

from .conftest import SYSTEM_PYTHON, needs_bwrap, needs_python, spawn, tserver


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mcpwarden", "doctor", *args], capture_output=True, text=True,
                          timeout=60)


def test_doctor_prints_capabilities() -> None:
    run = doctor()
    assert run.returncode == 0, run.stderr
    for label in ("bubblewrap", "user namespaces", "network namespaces", "landlock", "seccomp", "cgroups",
                  "sandbox tier"):
        assert label in run.stdout


def test_doctor_server_report_and_refusal(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({"servers": {
        "boxed": {"command": "cat", "filesystem": {"read": ["/srv"]}, "network": "none"},
        "plain": {"command": "cat"},
    }}))
    run = doctor("--policy", str(policy), "--server", "plain", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["protections"]["tier"] == "none" and report["required"] == []
    run = doctor("--policy", str(policy), "--server", "boxed")
    assert run.returncode in (0, 6), run.stderr
    assert "filesystem" in run.stdout and "required: filesystem, network" in run.stdout
    run = doctor("--policy", str(policy), "--server", "missing")
    assert run.returncode == 5 and "no server named 'missing'" in run.stderr


@needs_bwrap
@needs_python
@pytest.mark.anyio
async def test_launch_is_reusable_after_a_crash(tmp_path: Path) -> None:
    marker = tmp_path / "work"
    marker.mkdir()
    code = ("import os, sys; p = sys.argv[1] + '/runs'; n = len(open(p).read()) if os.path.exists(p) else 0; "
            "open(p, 'a').write('x'); print(n); sys.exit(3 if n == 0 else 0)")
    policy, server = tserver({"command": SYSTEM_PYTHON, "args": ["-I", "-c", code, str(marker)],
                              "filesystem": {"write": [str(marker)]}, "network": {"allow": ["example.com"]},
                              "limits": {"pids": 32}})
    launch = await prepare("t", server, policy, lambda r: None, state_dir=tmp_path / "state")
    try:
        first = await spawn(launch)
        second = await spawn(launch)
        third = await spawn(launch)
    finally:
        await launch.close()
        await launch.close()
    assert (first[0], first[1].strip()) == (3, "0"), first[2]
    assert (second[0], second[1].strip()) == (0, "1"), second[2]
    assert (third[0], third[1].strip()) == (0, "2"), third[2]


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", b"400"),
        (b"CONNECT nohostport HTTP/1.1\r\n\r\n", b"400"),
        (b"GET /relative HTTP/1.1\r\nHost: x\r\n\r\n", b"400"),
        (b"GET ftp://example.com/ HTTP/1.1\r\n\r\n", b"400"),
        (b"CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n", b"403"),
        (b"GET http://user@evil.example.com/ HTTP/1.1\r\n\r\n", b"403"),
    ],
)
async def test_proxy_rejects_malformed_and_refused_requests(request_bytes: bytes, status: bytes) -> None:
    import socket

    audit: list[dict] = []
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    proxy = EgressProxy("t", EgressRules(["example.com"]), audit.append)
    await proxy.start(listener)
    try:
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(request_bytes)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    finally:
        await proxy.close()
        listener.close()
    assert answer.split(b" ")[1] == status, answer
    assert b"mcpwarden:" in answer
    if status == b"403":
        assert audit and audit[0]["verdict"] == "deny"


def test_ssh_agent_socket_not_inherited(monkeypatch: pytest.MonkeyPatch) -> None:
    """SSH_AUTH_SOCK and friends never reach a sandboxed server's environment."""
    from mcpwarden.sandbox.environment import ServerDirs, build_environment

    dirs = ServerDirs(Path("/x"), Path("/x/home"), Path("/x/cache"), Path("/x/tmp"))
    env = build_environment(dirs, None, {}, None, "/tmp", {**os.environ, "SSH_AUTH_SOCK": "/run/agent",
                                                            "AWS_SECRET_ACCESS_KEY": "k"})
    assert "SSH_AUTH_SOCK" not in env and "AWS_SECRET_ACCESS_KEY" not in env and env["HOME"] == "/x/home"
