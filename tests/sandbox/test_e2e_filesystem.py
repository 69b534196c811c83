"""End to end: the real @modelcontextprotocol/server-filesystem, started with npx inside the
sandbox by `mcpwarden run`, driven by the official SDK client. It answers for the allowed
directory and nothing else; the sandbox (not only the server's own checks) enforces it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from .conftest import needs_bwrap

pytestmark = [needs_bwrap, pytest.mark.anyio]

PACKAGE = "@modelcontextprotocol/server-filesystem"
NPM_CACHE = Path(os.environ.get("MCPWARDEN_TEST_NPM_CACHE", Path.home() / ".cache" / "mcpwarden-tests" / "npm"))
FETCH_TIMEOUT = 240


@pytest.fixture(scope="module")
def npm_cache() -> Path:
    """The package in an npm cache, fetched outside the sandbox (download is not under test)."""
    if shutil.which("npx") is None or shutil.which("npm") is None:
        pytest.skip("npm/npx are not installed")
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "npm_config_cache": str(NPM_CACHE), "npm_config_update_notifier": "false"}
    try:
        fetched = subprocess.run(["npm", "exec", "--yes", f"--package={PACKAGE}", "--", "node", "-e", "0"],
                                 env=env, capture_output=True, timeout=FETCH_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip(f"npm could not fetch {PACKAGE} within {FETCH_TIMEOUT}s")
    if fetched.returncode != 0:
        pytest.skip(f"npm could not fetch {PACKAGE}: {fetched.stderr.decode(errors='replace')[-300:]}")
    return NPM_CACHE


def text_of(result: object) -> str:
    return "".join(getattr(block, "text", "") for block in getattr(result, "content", []))


async def test_filesystem_server_in_the_sandbox(tmp_path: Path, npm_cache: Path) -> None:
    allowed = tmp_path / "allowed"
    outside = tmp_path / "outside"
    allowed.mkdir()
    outside.mkdir()
    (allowed / "notes.txt").write_text("hello from the allowed directory")
    (outside / "secret.txt").write_text("outside-canary")
    policy = {
        "version": 1,
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "detection": {"enabled": False},  # this test is about the sandbox, not the scanners
        "servers": {"fs": {
            "command": "npx",
            "args": ["-y", PACKAGE, str(allowed)],
            "filesystem": {"read": [str(allowed)], "write": [str(npm_cache)]},
            "env": {"set": {"npm_config_cache": str(npm_cache), "npm_config_offline": "true"}},
            "network": "none",
            "limits": {"memory": "1G", "pids": 256},
        }},
    }
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    env = {**os.environ, "MCPWARDEN_STATE_DIR": str(tmp_path / "state")}
    env.pop("MCPWARDEN_AUDIT_KEY", None)
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "mcpwarden", "run", "--policy", str(policy_path), "--server", "fs"],
                                   env=env)
    with open(tmp_path / "gateway-stderr.log", "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            read_tool = "read_text_file" if "read_text_file" in tools else "read_file"
            assert read_tool in tools and "write_file" in tools

            inside = await client.call_tool(read_tool, {"path": str(allowed / "notes.txt")})
            assert not inside.is_error and "hello from the allowed directory" in text_of(inside)

            escaped = await client.call_tool(read_tool, {"path": str(outside / "secret.txt")})
            assert escaped.is_error and "outside-canary" not in text_of(escaped)

            # The server believes it may write here; the sandbox binds the directory read-only.
            written = await client.call_tool("write_file", {"path": str(allowed / "new.txt"), "content": "x"})
            assert written.is_error, text_of(written)
    assert not (allowed / "new.txt").exists()
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    sandbox = next(r for r in records if r.get("event") == "sandbox")
    protections = sandbox["protections"]
    assert protections["tier"] == "bwrap"
    for name in ("filesystem", "network", "env", "pid", "seccomp", "limits"):
        assert protections[name]["status"] == "enforced", (name, protections[name])
