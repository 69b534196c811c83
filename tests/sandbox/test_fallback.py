"""The fallback tiers, forced on this machine by hiding bubblewrap from the probe:
Landlock plus seccomp, then environment scrubbing plus rlimits only."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
from pathlib import Path

import pytest

from mcpwarden.errors import ProtectionUnavailable
from mcpwarden.sandbox import probe

from .conftest import needs_python, run_python
from .test_escapes import PROBE_HEADER, outcomes

pytestmark = [needs_python, pytest.mark.anyio]

needs_landlock = pytest.mark.skipif(probe().landlock_abi < 4, reason="Landlock ABI >= 4 (kernel >= 6.7) is not here")


def landlock_tier():
    return dataclasses.replace(probe(), bwrap=None, user_namespaces=False)


def minimal_tier():
    return dataclasses.replace(probe(), bwrap=None, user_namespaces=False, landlock_abi=0)


@needs_landlock
async def test_landlock_tier_confines_files_and_tcp(state_dir: Path, host_files: Path, tmp_path: Path) -> None:
    readonly, writable = tmp_path / "readonly", tmp_path / "writable"
    readonly.mkdir()
    writable.mkdir()
    (readonly / "keep.txt").write_text("original")
    hits: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    service = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = service.sockets[0].getsockname()[1]
    code = PROBE_HEADER + f"""
attempt("ssh_key", lambda: open({str(host_files / '.ssh' / 'id_ed25519')!r}).read())
attempt("readonly_write", lambda: open({str(readonly / 'keep.txt')!r}, "w").write("changed"))
attempt("outside_write", lambda: open({str(tmp_path / 'evil')!r}, "w").write("x"))
attempt("gateway_environ", lambda: open("/proc/{os.getpid()}/environ", "rb").read())
def connect():
    socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(b"escaped")
attempt("host_tcp", connect)
attempt("read_allowed", lambda: open({str(readonly / 'keep.txt')!r}).read())
attempt("write_allowed", lambda: open({str(writable / 'out.txt')!r}, "w").write("ok"))
attempt("own_tmp", lambda: open(os.path.join(os.environ["TMPDIR"], "t"), "w").write("ok"))
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall(425, 0, 0)  # io_uring_setup: ENOSYS only from our filter (the kernel itself says EINVAL)
print(json.dumps({{"seccomp": errno.errorcode[ctypes.get_errno()]}}))
"""
    entry = {"filesystem": {"read": [str(readonly)], "write": [str(writable)]}, "network": "none",
             "allow_degraded": True}
    try:
        result = await run_python(code, entry, state_dir, capabilities=landlock_tier())
    finally:
        service.close()
        await service.wait_closed()
    assert result.launch.report.tier == "landlock"
    assert outcomes(result.stdout) == {
        "ssh_key": False, "readonly_write": False, "outside_write": False, "gateway_environ": False,
        "host_tcp": False, "read_allowed": True, "write_allowed": True, "own_tmp": True,
    }, result.stderr
    assert '{"seccomp": "ENOSYS"}' in result.stdout
    assert hits == [] and not (tmp_path / "evil").exists()
    assert (readonly / "keep.txt").read_text() == "original"


@needs_landlock
async def test_landlock_tier_allows_only_the_proxy_port(state_dir: Path) -> None:
    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi")
        await writer.drain()
        writer.close()

    service = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = service.sockets[0].getsockname()[1]
    code = PROBE_HEADER + f"""
import urllib.request
attempt("via_proxy", lambda: urllib.request.urlopen("http://localhost:{port}/", timeout=10).read())
attempt("direct", lambda: socket.create_connection(("127.0.0.1", {port}), timeout=3))
"""
    entry = {"network": {"allow": [f"localhost:{port}"]}, "allow_degraded": True}
    try:
        result = await run_python(code, entry, state_dir, capabilities=landlock_tier(), allow_loopback=True)
    finally:
        service.close()
        await service.wait_closed()
    assert result.launch.report.status("network") == "degraded"
    assert outcomes(result.stdout) == {"via_proxy": True, "direct": False}, result.stderr
    assert [r["verdict"] for r in result.audit if r["event"] == "egress"] == ["allow"]


async def test_minimal_tier_scrubs_the_environment(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-canary")
    monkeypatch.setenv("KEEP_ME", "kept")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    entry = {"env": {"pass": ["KEEP_ME"], "set": {"FIXED": "1"}}, "limits": {"open_files": 64},
             "allow_degraded": True}
    result = await run_python(code, entry, state_dir, capabilities=minimal_tier())
    env = json.loads(result.stdout)
    assert "AWS_SECRET_ACCESS_KEY" not in env and env["KEEP_ME"] == "kept" and env["FIXED"] == "1"
    assert env["HOME"].startswith(str(state_dir))
    report = result.launch.report
    assert (report.tier, report.status("filesystem"), report.status("env"), report.status("limits")) == \
        ("minimal", "off", "enforced", "enforced")


async def test_minimal_tier_applies_rlimits(state_dir: Path) -> None:
    code = "import resource as r; print(r.getrlimit(r.RLIMIT_NOFILE)[0], r.getrlimit(r.RLIMIT_CORE)[0])"
    result = await run_python(code, {"limits": {"open_files": 64}}, state_dir, capabilities=minimal_tier())
    assert result.stdout.split() == ["64", "0"], result.stderr


async def test_required_protection_missing_refuses_to_start(state_dir: Path) -> None:
    with pytest.raises(ProtectionUnavailable) as excinfo:
        await run_python("print(1)", {"filesystem": {"read": ["/srv"]}}, state_dir, capabilities=minimal_tier())
    message = str(excinfo.value)
    assert "filesystem is off" in message and "apt-get install bubblewrap" in message
    # allow_degraded does not accept "off"
    with pytest.raises(ProtectionUnavailable):
        await run_python("print(1)", {"filesystem": {"read": ["/srv"]}, "allow_degraded": True}, state_dir,
                         capabilities=minimal_tier())
