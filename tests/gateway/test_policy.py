"""Tool rules of the policy, end to end: allow/deny globs, hidden tools, read-only mode and
monitor mode, seen by the SDK client in both eras and by a raw client."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp.shared.exceptions import MCPError

from mcpwarden.wire import codes

from .conftest import (
    MODERN_VERSION,
    audit_records,
    fixture_command,
    gateway_args,
    gateway_env,
    raw_gateway,
    sdk_client,
    text_of,
    through_gateway,
    tool_records,
    write_policy,
)

pytestmark = pytest.mark.anyio

BOTH_ERAS = pytest.mark.parametrize("mode", ["legacy", MODERN_VERSION])
READ_ONLY_TOOLS = {"echo", "big_result", "payload_size", "cancelled", "sleep_then_echo"}



def assert_denied(exc: MCPError, tool: str, *rule_words: str) -> None:
    assert exc.code == codes.DENIED
    assert not -32768 <= exc.code <= -32000, "gateway codes lie outside the JSON-RPC reserved range"
    assert tool in exc.message, f"the denial must name the tool: {exc.message!r}"
    for word in rule_words:
        assert word in exc.message, f"the denial must name the rule ({word}): {exc.message!r}"


async def tool_names(client: Any) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


async def upstream_saw(client: Any, marker: str) -> bool:
    result = await client.call_tool("received", {"marker": marker})
    return bool((result.structured_content or {}).get("result"))


@BOTH_ERAS
async def test_denied_tool_is_hidden_and_refused(tmp_path: Path, mode: str) -> None:
    args = through_gateway(tmp_path, tools={"deny": ["write_*", "crash"]})
    async with sdk_client(args, tmp_path, mode=mode) as client:
        names = await tool_names(client)
        assert "write_note" not in names and "crash" not in names
        assert {"echo", "add", "received"} <= names
        with pytest.raises(MCPError) as refused:
            await client.call_tool("write_note", {"text": "mk-denied-5"})
        assert_denied(refused.value, "write_note", "write_*")
        assert not await upstream_saw(client, "mk-denied-5"), "a denied call must not reach the upstream"
        assert text_of(await client.call_tool("echo", {"text": "allowed"})) == "allowed"


async def test_allow_list_hides_everything_else(tmp_path: Path) -> None:
    args = through_gateway(tmp_path, tools={"allow": ["echo", "add", "rec*"]})
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert await tool_names(client) == {"echo", "add", "received"}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("big_result", {"size_bytes": 10})
        assert_denied(refused.value, "big_result", "allow")
        assert (await client.call_tool("add", {"a": 1, "b": 1})).structured_content == {"result": 2}


async def test_deny_wins_over_allow(tmp_path: Path) -> None:
    args = through_gateway(tmp_path, tools={"allow": ["*"], "deny": ["ec?o"]})
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert "echo" not in await tool_names(client)
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "x"})
        assert_denied(refused.value, "echo", "ec?o")


@BOTH_ERAS
async def test_read_only_runs_only_read_tools(tmp_path: Path, mode: str) -> None:
    args = through_gateway(tmp_path, tools={"read_only": True})
    async with sdk_client(args, tmp_path, mode=mode) as client:
        assert await tool_names(client) == READ_ONLY_TOOLS
        assert text_of(await client.call_tool("echo", {"text": "read"})) == "read"
        for tool, arguments in (("write_note", {"text": "w"}), ("add", {"a": 1, "b": 2})):
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, arguments)
            assert_denied(refused.value, tool, "read-only")


async def test_read_only_with_reads_list(tmp_path: Path) -> None:
    args = through_gateway(tmp_path, tools={"read_only": True, "reads": ["add", "rec*"]})
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert await tool_names(client) == READ_ONLY_TOOLS | {"add", "received"}
        assert (await client.call_tool("add", {"a": 2, "b": 2})).structured_content == {"result": 4}
        with pytest.raises(MCPError) as refused:
            await client.call_tool("write_note", {"text": "mk-ro-6"})
        assert_denied(refused.value, "write_note", "read-only")
        assert not await upstream_saw(client, "mk-ro-6")


def test_read_only_tool_runs_before_the_client_lists_tools(tmp_path: Path) -> None:
    """Clients may call a tool they know without listing first: a read-only tool must still run,
    and a write tool must still be refused."""
    policy = write_policy(tmp_path, tools={"read_only": True})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        response = gw.call_tool("echo", {"text": "first call"})
        assert "result" in response, f"a readOnlyHint tool was refused before tools/list: {response}"
        assert response["result"]["content"][0]["text"] == "first call"
        refused = gw.call_tool("write_note", {"text": "x"})
        assert refused.get("error", {}).get("code") == codes.DENIED


@pytest.mark.parametrize("where", ["top-level", "server"])
async def test_monitor_mode_denies_nothing_and_records_would_deny(tmp_path: Path, where: str) -> None:
    modes = {"mode": "monitor"} if where == "top-level" else {"server_mode": "monitor"}
    args = through_gateway(tmp_path, tools={"deny": ["write_*"], "read_only": True}, **modes)
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert {"write_note", "add", "echo"} <= await tool_names(client), "monitor mode hides nothing"
        assert text_of(await client.call_tool("write_note", {"text": "abc"})) == "wrote 3 characters"
        assert text_of(await client.call_tool("echo", {"text": "e"})) == "e"
    records = tool_records(audit_records(tmp_path), "write_note")
    assert records, "the call must be audited"
    assert {r.get("verdict") for r in records} == {"would-deny"}
    assert all(r.get("rule") for r in records), "a would-deny record names the rule"
    echo_verdicts = {r.get("verdict") for r in tool_records(audit_records(tmp_path), "echo")}
    assert echo_verdicts and not echo_verdicts & {"deny", "would-deny"}


async def test_policy_for_one_server_does_not_leak_to_another(tmp_path: Path) -> None:
    write_policy(tmp_path, server="strict", tools={"deny": ["*"]})
    policy = tmp_path / "policy.yaml"
    data = yaml.safe_load(policy.read_text())
    data["servers"]["open"] = dict(data["servers"]["strict"], tools={"allow": ["*"]})
    policy.write_text(yaml.safe_dump(data, sort_keys=False))
    async with sdk_client(gateway_args(policy, server="open"), tmp_path, mode="legacy") as client:
        assert text_of(await client.call_tool("echo", {"text": "open"})) == "open"
    async with sdk_client(gateway_args(policy, server="strict"), tmp_path, mode="legacy") as client:
        assert await tool_names(client) == set()
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo", {"text": "strict"})
        assert_denied(refused.value, "echo")


def test_invalid_policy_stops_the_gateway_with_a_clear_error(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("version: 1\nservers:\n  fx:\n    command: python\n    tools:\n      alow: ['*']\n")
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        code = gw.wait_exit(20)
        assert code is not None and code != 0
        assert "alow" in gw.stderr and "policy.yaml" in gw.stderr
        assert gw.no_line_within(0.5) is None, "nothing on stdout"


async def test_command_after_dashes_with_a_policy(tmp_path: Path) -> None:
    """`run --policy P -- CMD` applies the `defaults` settings; `--server NAME -- CMD` applies
    NAME's rules to CMD."""
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump({
        "version": 1,
        "audit": {"path": str(tmp_path / "audit.jsonl")},
        "gateway": {"request_timeout": 20, "shutdown_grace": 0.5},
        "defaults": {"tools": {"deny": ["write_*"]}},
        "servers": {"named": {"command": "/bin/false", "tools": {"allow": ["echo"]}}},
    }))
    async with sdk_client(gateway_args(policy, upstream=fixture_command()), tmp_path, mode="legacy") as client:
        names = await tool_names(client)
        assert "write_note" not in names and "add" in names
        with pytest.raises(MCPError) as refused:
            await client.call_tool("write_note", {"text": "x"})
        assert_denied(refused.value, "write_note", "write_*")
    args = gateway_args(policy, server="named", upstream=fixture_command())
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert await tool_names(client) == {"echo"}
        assert text_of(await client.call_tool("echo", {"text": "named"})) == "named"


def test_duplicate_keys_and_escapes_cannot_smuggle_a_denied_tool(tmp_path: Path) -> None:
    """The gateway and the upstream must agree on which tool a request names: a duplicated
    "name" key or a \\u escape must not let a denied tool run."""
    policy = write_policy(tmp_path, tools={"deny": ["write_*"]})
    smuggles = [
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","name":"write_note",'
        b'"arguments":{"text":"mk-smuggle-1"}}}\n',
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"write\\u005fnote",'
        b'"arguments":{"text":"mk-smuggle-2"}}}\n',
        b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}},'
        b'"params":{"name":"write_note","arguments":{"text":"mk-smuggle-3"}}}\n',
    ]
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        for i, template in enumerate(smuggles, start=1):
            msg_id = gw.new_id()
            gw.send(template % msg_id)
            response = gw.response_to(msg_id)
            assert "error" in response, f"smuggle {i} ran a denied tool: {response}"
            seen = gw.call_tool("received", {"marker": f"mk-smuggle-{i}"})
            assert seen["result"]["structuredContent"]["result"] == [], f"smuggle {i} reached the upstream"


SDK_DEFAULT_STDIO_SERVER = """
import pathlib, sys
from mcp.server.mcpserver import MCPServer
server = MCPServer("plain")
@server.tool()
def echo(text: str) -> str:
    return text
@server.tool()
def write_note(text: str) -> str:
    pathlib.Path(sys.argv[1]).write_text(text)
    return "wrote"
server.run("stdio")
"""


def test_a_carriage_return_cannot_hide_a_denied_call_inside_an_allowed_one(tmp_path: Path) -> None:
    """The SDK's stdio server reads lines with universal newlines, so a CR ends a line there.
    A CR is only whitespace to JSON: a line the gateway reads as one allowed call must not
    reach such a server as a second, denied call between two CRs."""
    script, written = tmp_path / "plain_server.py", tmp_path / "written"
    script.write_text(SDK_DEFAULT_STDIO_SERVER)
    policy = write_policy(tmp_path, command=[sys.executable, str(script), str(written)],
                          tools={"deny": ["write_*"]})
    inner = (b'{"jsonrpc":"2.0","id":"inner","method":"tools/call",'
             b'"params":{"name":"write_note","arguments":{"text":"x"}}}')
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send(b'{"jsonrpc":"2.0","id":"outer","method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}},'
                b'"x":\r' + inner + b'\r}\n')
        gw.send_json({"jsonrpc": "2.0", "id": "after", "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "after"}}})
        answers: dict[Any, dict[str, Any]] = {}
        for _ in range(10):  # until "after" is answered: the server has handled the line before it by now
            msg = gw.read_message(timeout=20)
            answers[msg.get("id")] = msg
            if "after" in answers:
                break
        assert not written.exists(), "a denied tool ran"
        assert answers["outer"]["result"]["content"][0]["text"] == "hi"
