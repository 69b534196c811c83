"""End to end through `mcpwarden run` and the official SDK client: the real
@modelcontextprotocol/server-filesystem started with npx inside the sandbox answers for the
allowed directory and nothing else (the sandbox, not only the server's own checks, enforces
it); a real uvx server (mcp-server-time) runs inside too. Packages are fetched outside the
sandbox first (download is not under test); inside, the servers run offline with no network."""

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
TEST_CACHE = Path(os.environ.get("MCPWARDEN_TEST_CACHE", Path.home() / ".cache" / "mcpwarden-tests"))
NPM_CACHE = TEST_CACHE / "npm"
UV_CACHE = TEST_CACHE / "uv"
UV_SERVER = "mcp-server-time"
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


@pytest.fixture(scope="module")
def uv_cache() -> tuple[str, Path]:
    uvx = shutil.which("uvx") or str(Path(sys.executable).parent / "uvx")
    if not os.access(uvx, os.X_OK):
        pytest.skip("uv is not installed (pip install uv)")
    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("no /usr/bin/python3 for uvx to use")
    UV_CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **uv_env(UV_CACHE, offline=False)}
    try:
        fetched = subprocess.run([uvx, UV_SERVER, "--help"], env=env, capture_output=True, timeout=FETCH_TIMEOUT,
                                 stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip(f"uv could not fetch {UV_SERVER} within {FETCH_TIMEOUT}s")
    if fetched.returncode != 0:
        pytest.skip(f"uv could not fetch {UV_SERVER}: {fetched.stderr.decode(errors='replace')[-300:]}")
    return uvx, UV_CACHE


def uv_env(cache: Path, offline: bool) -> dict[str, str]:
    env = {"UV_CACHE_DIR": str(cache), "UV_PYTHON": "/usr/bin/python3", "UV_PYTHON_DOWNLOADS": "never"}
    if offline:
        env["UV_OFFLINE"] = "1"
    return env


async def test_uvx_server_in_the_sandbox(tmp_path: Path, uv_cache: tuple[str, Path]) -> None:
    uvx, cache = uv_cache
    policy = {
        "version": 1,
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "detection": {"enabled": False},
        "servers": {"time": {
            "command": uvx,
            "args": [UV_SERVER],
            "filesystem": {"read": [str(Path(uvx).parent)], "write": [str(cache)]},
            "env": {"set": uv_env(cache, offline=True)},
            "network": "none",
        }},
    }
    policy_path = tmp_path / "policy.yaml"
    policy_path.write_text(yaml.safe_dump(policy))
    env = {**os.environ, "MCPWARDEN_STATE_DIR": str(tmp_path / "state")}
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "mcpwarden", "run", "--policy", str(policy_path), "--server", "time"],
                                   env=env)
    with open(tmp_path / "gateway-stderr.log", "w") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert "get_current_time" in tools
            now = await client.call_tool("get_current_time", {"timezone": "UTC"})
            assert not now.is_error and "UTC" in text_of(now)
    records = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    sandbox = next(r for r in records if r.get("event") == "sandbox")
    assert sandbox["protections"]["network"]["status"] == "enforced"
