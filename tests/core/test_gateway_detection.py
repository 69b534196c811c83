"""End to end: the built-in default policy (no --policy) blocks a secret in a tool argument
and redacts one in a result, through a real `mcpwarden run` with SDK peers on both sides."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import anyio
import orjson
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from mcpwarden.detect.honeytoken import mint
from mcpwarden.wire import codes

SERVER = textwrap.dedent(
    """
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("reveal")

    @server.tool()
    def reveal(reversed_text: str) -> str:
        return "here it is: " + reversed_text[::-1]

    @server.tool()
    def echo(text: str) -> str:
        return text

    server.run()
    """
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _params(tmp_path: Path, policy_text: str | None = None) -> StdioServerParameters:
    """The gateway in front of SERVER; with ``policy_text``, under that policy (else the default)."""
    server = tmp_path / "reveal_server.py"
    server.write_text(SERVER)
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path / "state"))
    env.pop("MCPWARDEN_AUDIT_KEY", None)
    policy: list[str] = []
    if policy_text is not None:
        (tmp_path / "policy.yaml").write_text(policy_text)
        policy = ["--policy", str(tmp_path / "policy.yaml")]
    return StdioServerParameters(
        command=sys.executable, args=["-m", "mcpwarden", "run", *policy, "--", sys.executable, str(server)], env=env
    )


@pytest.mark.anyio
@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_default_policy_blocks_secret_arguments_and_redacts_results(tmp_path: Path, mode: str) -> None:
    token = mint("github").value
    with anyio.fail_after(60):
        async with Client(_params(tmp_path), mode=mode) as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("echo", {"text": f"please store GITHUB_TOKEN={token}"})
            assert info.value.code == codes.SECRET_BLOCKED
            assert "github" in info.value.message and token not in info.value.message

            result = await client.call_tool("reveal", {"reversed_text": token[::-1]})
            text = result.content[0].text
            assert token not in text
            assert "[REDACTED:" in text and text.startswith("here it is: ")

            assert (await client.call_tool("echo", {"text": "nothing to see"})).content[0].text == "nothing to see"

    audit = (tmp_path / "state" / "mcpwarden" / "audit.jsonl").read_bytes()
    assert token.encode() not in audit and token[::-1].encode() not in audit
    records = [orjson.loads(line) for line in audit.splitlines()]
    calls = [r for r in records if r.get("event") == "call" and r.get("method") == "tools/call"]
    assert [r["verdict"] for r in calls] == ["deny", "rewrite", "pass"]
    assert calls[0]["rule"] and calls[1]["rule"]


@pytest.mark.anyio
async def test_declared_honeytoken_is_blocked_and_alerted_even_when_arguments_only_warn(tmp_path: Path) -> None:
    canary = "canary-" + os.urandom(8).hex()
    params = _params(
        tmp_path,
        f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\n"
        "detection:\n  arguments: warn\n"
        f"  honeytokens: [{{name: build-canary, value: {canary}}}]\n",
    )
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("echo", {"text": f"deploy with {canary}"})
            assert info.value.code == codes.SECRET_BLOCKED and canary not in info.value.message
    audit = (tmp_path / "audit.jsonl").read_bytes()
    assert canary.encode() not in audit
    alerts = [r for r in map(orjson.loads, audit.splitlines()) if r.get("event") == "alert"]
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical" and alerts[0]["tool"] == "echo"


@pytest.mark.anyio
async def test_honeytoken_is_blocked_even_in_monitor_mode(tmp_path: Path) -> None:
    """README: a honeytoken is "always blocked"; monitor mode (trying rules out) must not let a
    canary, which no legitimate call carries, leave in either direction."""
    canary = "canary-" + os.urandom(8).hex()
    params = _params(
        tmp_path,
        f"mode: monitor\naudit: {{path: {tmp_path / 'audit.jsonl'}}}\n"
        f"detection:\n  honeytokens: [{{name: build-canary, value: {canary}}}]\n",
    )
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            with pytest.raises(MCPError) as info:
                await client.call_tool("echo", {"text": f"deploy with {canary}"})
            assert info.value.code == codes.SECRET_BLOCKED
            with pytest.raises(MCPError) as info:
                await client.call_tool("reveal", {"reversed_text": canary[::-1]})
            assert info.value.code == codes.SECRET_BLOCKED and canary not in info.value.message
            # everything else is only recorded, as monitor mode promises
            assert (await client.call_tool("echo", {"text": "key sk_live_51H8abcdefghijklmnopqrstu"})).content
    records = [orjson.loads(line) for line in (tmp_path / "audit.jsonl").read_bytes().splitlines()]
    calls = [r for r in records if r.get("event") == "call" and r.get("method") == "tools/call"]
    assert [r["verdict"] for r in calls] == ["deny", "deny", "would-deny"]
