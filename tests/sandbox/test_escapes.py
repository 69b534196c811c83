"""Real escape attempts from inside a real bubblewrap sandbox; each must fail."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from mcpwarden.errors import SandboxError
from mcpwarden.sandbox import prepare

from .conftest import SYSTEM_PYTHON, needs_bwrap, needs_python, run_python, spawn, tserver

pytestmark = [needs_bwrap, needs_python, pytest.mark.anyio]

PROBE_HEADER = """
import json, os, socket, sys
def attempt(what, fn):
    try:
        fn()
        print(json.dumps({"what": what, "ok": True}))
    except Exception as exc:
        print(json.dumps({"what": what, "ok": False, "error": type(exc).__name__}))
"""


def outcomes(stdout: str) -> dict[str, bool]:
    import json

    return {r["what"]: r["ok"] for r in map(json.loads, stdout.splitlines()) if "what" in r}


async def test_host_files_are_invisible(state_dir: Path, host_files: Path, tmp_path: Path) -> None:
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "ok.txt").write_text("fine")
    code = PROBE_HEADER + f"""
attempt("ssh_key", lambda: open({str(host_files / '.ssh' / 'id_ed25519')!r}).read())
attempt("dotenv", lambda: open({str(host_files / '.env')!r}).read())
attempt("shadow", lambda: open("/etc/shadow").read())
attempt("root_ssh", lambda: os.listdir("/root/.ssh"))
attempt("gateway_cwd", lambda: os.listdir({os.getcwd()!r}))
attempt("allowed", lambda: open({str(allowed / 'ok.txt')!r}).read())
"""
    result = await run_python(code, {"filesystem": {"read": [str(allowed)]}}, state_dir)
    seen = outcomes(result.stdout)
    assert seen == {"ssh_key": False, "dotenv": False, "shadow": False, "root_ssh": False, "gateway_cwd": False,
                    "allowed": True}, result.stderr
    assert "CANARY" not in result.stdout and "canary" not in result.stdout


async def test_writes_outside_write_roots_fail(state_dir: Path, tmp_path: Path) -> None:
    readonly = tmp_path / "readonly"
    writable = tmp_path / "writable"
    readonly.mkdir()
    writable.mkdir()
    (readonly / "keep.txt").write_text("original")
    code = PROBE_HEADER + f"""
attempt("readonly_file", lambda: open({str(readonly / 'keep.txt')!r}, "w").write("changed"))
attempt("readonly_new", lambda: open({str(readonly / 'new.txt')!r}, "w").write("x"))
attempt("usr", lambda: open("/usr/evil", "w").write("x"))
attempt("root", lambda: open("/evil", "w").write("x"))
attempt("host_tmp", lambda: open({str(tmp_path / 'evil')!r}, "w").write("x"))
attempt("writable", lambda: open({str(writable / 'out.txt')!r}, "w").write("ok"))
"""
    entry = {"filesystem": {"read": [str(readonly)], "write": [str(writable)]}}
    result = await run_python(code, entry, state_dir)
    seen = outcomes(result.stdout)
    # host_tmp lands in the server's private /tmp (bind mount points are created there), not on the host.
    seen.pop("host_tmp")
    assert seen == {"readonly_file": False, "readonly_new": False, "usr": False, "root": False,
                    "writable": True}, result.stderr
    assert (readonly / "keep.txt").read_text() == "original"
    assert not (readonly / "new.txt").exists() and not (tmp_path / "evil").exists()
    assert (writable / "out.txt").read_text() == "ok"


async def test_read_path_above_the_state_dir_keeps_home_and_cache_writable(state_dir: Path, tmp_path: Path) -> None:
    # e.g. read: ["~"] with the default state dir ~/.local/state/mcpwarden
    evil = str(tmp_path / "evil")
    code = PROBE_HEADER + f"""
attempt("home", lambda: open(os.path.join(os.environ["HOME"], "x"), "w").write("x"))
attempt("cache", lambda: open(os.path.join(os.environ["XDG_CACHE_HOME"], "x"), "w").write("x"))
attempt("elsewhere", lambda: open({evil!r}, "w").write("x"))
"""
    result = await run_python(code, {"filesystem": {"read": [str(tmp_path)]}}, state_dir)
    assert outcomes(result.stdout) == {"home": True, "cache": True, "elsewhere": False}, result.stderr


async def test_planted_symlink_leads_nowhere(state_dir: Path, host_files: Path, tmp_path: Path) -> None:
    readonly = tmp_path / "readonly"
    writable = tmp_path / "writable"
    readonly.mkdir()
    writable.mkdir()
    (readonly / "keep.txt").write_text("original")
    code = PROBE_HEADER + f"""
os.symlink({str(host_files / '.ssh' / 'id_ed25519')!r}, {str(writable / 'key')!r})
os.symlink({str(readonly / 'keep.txt')!r}, {str(writable / 'keep')!r})
attempt("follow_key", lambda: open({str(writable / 'key')!r}).read())
attempt("write_through", lambda: open({str(writable / 'keep')!r}, "w").write("changed"))
"""
    entry = {"filesystem": {"read": [str(readonly)], "write": [str(writable)]}}
    result = await run_python(code, entry, state_dir)
    assert outcomes(result.stdout) == {"follow_key": False, "write_through": False}, result.stderr
    assert (readonly / "keep.txt").read_text() == "original"


async def test_symlink_planted_at_a_read_path_inside_a_write_path_is_not_bound(
    state_dir: Path, host_files: Path, tmp_path: Path
) -> None:
    """write: [W], read: [W/cfg]. The server replaces W/cfg by a relative symlink to a host
    directory that also exists in its own /tmp, and exits; the restart must not bind it."""
    writable = tmp_path / "w"
    (writable / "cfg").mkdir(parents=True)
    policy, server = tserver({"command": SYSTEM_PYTHON, "args": ["-I", "-c", f"""
import os
print(os.listdir({str(host_files / '.ssh')!r}))
"""], "filesystem": {"read": [str(writable / "cfg")], "write": [str(writable)]}})
    launch = await prepare("t", server, policy, lambda r: None, state_dir=state_dir)
    try:
        code, out, _err = await spawn(launch)
        assert code != 0 and "id_ed25519" not in out  # the first run sees no host files
        # What the server can do from inside: W/cfg is a mount point then, but its parent is writable
        # between runs; and its own /tmp persists, where the target's path must exist.
        (writable / "cfg").rmdir()
        os.symlink(os.path.relpath(host_files / ".ssh", writable), writable / "cfg")
        (state_dir / "sandbox" / "t" / "tmp" / (host_files / ".ssh").relative_to("/tmp")).mkdir(parents=True)
        code, out, err = await spawn(launch)
        assert "id_ed25519" not in out, "a restart bound the planted symlink's target"
        assert code == 126 and "is a symbolic link inside the write path" in err
        with pytest.raises(SandboxError, match="is a symbolic link inside the write path"):
            await prepare("t", server, policy, lambda r: None, state_dir=state_dir)
    finally:
        await launch.close()


async def test_gateway_environment_is_unreachable(state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCPWARDEN_TEST_CANARY", "gateway-secret-canary")
    code = PROBE_HEADER + f"""
attempt("gateway_environ", lambda: open("/proc/{os.getpid()}/environ", "rb").read())
attempt("parent_environ", lambda: open("/proc/{os.getppid()}/environ", "rb").read())
print(json.dumps({{"env": sorted(os.environ)}}))
print(json.dumps({{"pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}}))
"""
    result = await run_python(code, {"env": {"pass": [], "set": {"MODE": "test"}}}, state_dir)
    assert "gateway-secret-canary" not in result.stdout
    seen = outcomes(result.stdout)
    assert seen["gateway_environ"] is False and seen["parent_environ"] is False
    import json

    lines = [json.loads(line) for line in result.stdout.splitlines()]
    env_keys = next(r["env"] for r in lines if "env" in r)
    assert "MCPWARDEN_TEST_CANARY" not in env_keys and "MODE" in env_keys
    pids = next(r["pids"] for r in lines if "pids" in r)
    assert max(pids) < 10, "the sandbox should see only its own PID namespace"


async def test_no_network_without_allowlist(state_dir: Path) -> None:
    """Host loopback services and DNS are out of reach; the sandbox has only its own lo."""
    hits: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hits.append(await reader.read(100))
        writer.close()

    host_service = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = host_service.sockets[0].getsockname()[1]
    code = PROBE_HEADER + f"""
def connect():
    s = socket.create_connection(("127.0.0.1", {port}), timeout=3); s.sendall(b"escaped")
attempt("host_loopback", connect)
attempt("dns", lambda: socket.getaddrinfo("exfil-canary.example.com", 443))
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
attempt("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
"""
    try:
        result = await run_python(code, {"network": "none"}, state_dir)
    finally:
        host_service.close()
        await host_service.wait_closed()
    assert outcomes(result.stdout) == {"host_loopback": False, "dns": False, "netlink": False, "raw": False}, \
        result.stderr
    assert hits == []


async def test_fork_bomb_stops_at_pids_limit(state_dir: Path) -> None:
    code = """
import os, time
n = 0
for _ in range(300):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    n += 1
print(n)
"""
    result = await run_python(code, {"limits": {"pids": 12}}, state_dir)
    assert result.launch.report.status("limits") == "enforced"
    forks = int(result.stdout.strip())
    assert 0 < forks < 12, result.stderr


async def test_memory_hog_is_killed(state_dir: Path) -> None:
    code = """
chunks = []
for _ in range(40):
    chunks.append(b"x" * (16 * 1024 * 1024))
print("survived", flush=True)
"""
    result = await run_python(code, {"limits": {"memory": "96M"}}, state_dir)
    assert result.launch.report.status("limits") == "enforced"
    assert "survived" not in result.stdout
    assert result.returncode != 0


async def test_seccomp_refuses_dangerous_syscalls(state_dir: Path) -> None:
    code = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
for name, nr in (("io_uring_setup", 425), ("ptrace", 101), ("bpf", 321), ("keyctl", 250), ("userfaultfd", 323)):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, 0, 0, 0, 0)
    print(name, rc, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
"""
    result = await run_python(code, {"filesystem": {}}, state_dir)
    got = {line.split()[0]: line.split()[2] for line in result.stdout.splitlines()}
    assert got == {"io_uring_setup": "ENOSYS", "ptrace": "EPERM", "bpf": "EPERM", "keyctl": "EPERM",
                   "userfaultfd": "EPERM"}, result.stderr


async def test_secret_reaches_env_not_argv(state_dir: Path) -> None:
    code = """
import os
needle = bytes.fromhex("7333637265742d76616c7565")  # the secret, spelled so this argv does not hold it
print(os.environ.get("API_TOKEN", "").encode() == needle)
print(open("/proc/self/cmdline", "rb").read().count(needle))
print(open("/proc/1/cmdline", "rb").read().count(needle))
print(open("/proc/1/environ", "rb").read().count(b"GW_TOKEN"))
"""
    result = await run_python(code, {"secrets": {"API_TOKEN": "env:GW_TOKEN"}}, state_dir,
                              environ={"GW_TOKEN": "s3cret-value", "PATH": os.environ["PATH"]})
    assert result.stdout.split() == ["True", "0", "0", "0"], result.stderr
    assert all("s3cret" not in arg for arg in result.launch.argv)
