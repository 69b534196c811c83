"""The sandbox as an ordinary user (the usual laptop case): the network namespace then lives
in a user namespace mcpwarden creates, and bwrap runs nested inside it. Run from a root test
process by dropping to uid/gid 65534 with setpriv."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import mcpwarden

from .conftest import SYSTEM_PYTHON, needs_bwrap, needs_python

pytestmark = [needs_bwrap, needs_python,
              pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                                 reason="needs root and setpriv to drop to an unprivileged user")]

SCRIPT = r'''
import asyncio, json, os, socket, sys
from pathlib import Path
from mcpwarden.policy.schema import Policy
from mcpwarden.sandbox import prepare
CODE = """
import json, os, socket
port = int(os.environ["HTTPS_PROXY"].rsplit(":", 1)[1])
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"CONNECT exfil.example.com:443 HTTP/1.1\\r\\n\\r\\n")
status = s.recv(100).split(b" ")[1].decode()
try:
    socket.getaddrinfo("exfil.example.com", 443)
    dns = True
except OSError:
    dns = False
print(json.dumps({"uid": os.getuid(), "status": status, "dns": dns, "root": sorted(os.listdir("/"))}))
"""
async def main():
    policy = Policy.model_validate({"servers": {"s": {"command": sys.executable, "args": ["-I", "-c", CODE],
                                                      "network": {"allow": ["example.com"]}}}})
    records = []
    launch = await prepare("s", policy.servers["s"], policy, records.append, state_dir=Path(sys.argv[1]))
    proc = await asyncio.create_subprocess_exec(*launch.argv, env=launch.env, cwd=launch.cwd,
        pass_fds=launch.pass_fds, preexec_fn=launch.preexec, stdout=asyncio.subprocess.PIPE)
    out, _ = await asyncio.wait_for(proc.communicate(), 20)
    await launch.close()
    print(json.dumps({"inside": json.loads(out), "audit": records,
                      "report": {k: v.status for k, v in launch.report.protections.items()}}))
asyncio.run(main())
'''


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory the unprivileged user can reach (pytest's own tmp is private to root)."""
    with tempfile.TemporaryDirectory(prefix="mcpwarden-unpriv-") as path:
        os.chmod(path, 0o777)
        yield Path(path)


def test_unprivileged_user_gets_the_full_tier(shared_tmp: Path) -> None:
    tmp_path = shared_tmp
    script = tmp_path / "unprivileged.py"
    script.write_text(SCRIPT)
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    state.chmod(0o777)
    paths = [str(Path(mcpwarden.__file__).parent.parent), *site.getsitepackages()]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": os.pathsep.join(paths)}
    check = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, "-c",
                            "import mcpwarden.sandbox, pydantic"], env=env, capture_output=True, timeout=30)
    if check.returncode != 0:
        pytest.skip("the unprivileged user cannot import mcpwarden with the system Python: "
                    + check.stderr.decode(errors="replace")[-200:])
    run = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, str(script),
                          str(state)], env=env, capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode(errors="replace")[-2000:]
    result = json.loads(run.stdout)
    assert result["report"] == dict.fromkeys(("filesystem", "network", "env", "pid", "seccomp"), "enforced") | \
        {"limits": "off"}
    inside = result["inside"]
    assert inside["uid"] == 65534 and inside["status"] == "403" and inside["dns"] is False
    assert "root" not in inside["root"] and "home" not in inside["root"]
    assert result["audit"] == [{"event": "egress", "server": "s", "host": "exfil.example.com", "port": 443,
                                "verdict": "deny", "reason": "host not on the allowlist"}]
