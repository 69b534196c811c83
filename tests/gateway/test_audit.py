"""The audit log a real session leaves: one record per decision with the documented fields,
hashes instead of values, a chain `mcpwarden log verify` accepts, also after kill -9."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest
from mcp.shared.exceptions import MCPError

from mcpwarden.wire import codes

from .conftest import (
    PYTHON,
    audit_records,
    gateway_args,
    gateway_env,
    kill_leftovers,
    raw_gateway,
    sdk_client,
    text_of,
    through_gateway,
    tool_records,
    write_policy,
)

pytestmark = pytest.mark.anyio

SECRET_VALUE = "hunter2-mk-distinctive-VALUE-7f3a9c"
"""Looks private to a human but matches no provider format, so no detection rule rewrites it."""
CALL_FIELDS = {"event", "session", "principal", "server", "method", "tool", "arg_keys", "args_sha256",
               "result_sha256", "verdict", "rule", "duration_ms"}
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def log_verify(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "mcpwarden", "log", "verify", str(path)],
        capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )


async def test_calls_are_recorded_with_hashes_and_never_values(tmp_path: Path) -> None:
    args = gateway_args(write_policy(tmp_path, tools={"deny": ["write_*"]}), server="fx")
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        await client.list_tools()
        assert text_of(await client.call_tool("echo", {"text": SECRET_VALUE})) == SECRET_VALUE
        assert text_of(await client.call_tool("echo", {"text": SECRET_VALUE})) == SECRET_VALUE
        assert text_of(await client.call_tool("echo", {"text": "something else"})) == "something else"
        with pytest.raises(MCPError):
            await client.call_tool("write_note", {"text": SECRET_VALUE})

    raw = (tmp_path / "audit.jsonl").read_bytes()
    assert SECRET_VALUE.encode() not in raw, "an argument value was written to the audit log"
    records = audit_records(tmp_path)

    echoes = tool_records(records, "echo")
    assert len(echoes) == 3, f"one record per call, got {len(echoes)}"
    for record in echoes:
        assert set(record) >= CALL_FIELDS, f"missing fields: {CALL_FIELDS - set(record)}"
        assert record["event"] == "call" and record["method"] == "tools/call" and record["server"] == "fx"
        assert record["arg_keys"] == ["text"]
        assert HEX64.match(record["args_sha256"]) and HEX64.match(record["result_sha256"])
        assert record["verdict"] == "pass" and record["rule"] is None
        assert isinstance(record["duration_ms"], int | float) and record["duration_ms"] >= 0
        assert record["principal"] and record["session"]
    assert echoes[0]["args_sha256"] == echoes[1]["args_sha256"] != echoes[2]["args_sha256"]
    assert echoes[0]["result_sha256"] == echoes[1]["result_sha256"] != echoes[2]["result_sha256"]

    [denied] = tool_records(records, "write_note")
    assert denied["verdict"] == "deny"
    assert "deny" in denied["rule"] and denied["result_sha256"] is None
    assert len({r["session"] for r in records if r.get("event") == "call"}) == 1

    listed = [r for r in records if r.get("method") == "tools/list"]
    assert listed and listed[0]["verdict"] in ("pass", "rewrite")

    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_log_verifies_after_kill_9_of_the_gateway(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        for i in range(5):
            assert gw.call_tool("echo", {"text": f"n{i}"})["result"]["content"][0]["text"] == f"n{i}"
        child = psutil.Process(int(gw.call_tool("pid")["result"]["content"][0]["text"]))
        records_before = len(tool_records(audit_records(tmp_path, want=7), "echo"))
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait_exit(5)
        kill_leftovers({child})
    assert records_before == 5
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_a_second_session_continues_the_chain(tmp_path: Path) -> None:
    args = gateway_args(write_policy(tmp_path), server="fx")
    for round_no in range(2):
        async with sdk_client(args, tmp_path, mode="legacy") as client:
            assert text_of(await client.call_tool("echo", {"text": f"r{round_no}"})) == f"r{round_no}"
    records = audit_records(tmp_path)
    assert len({r["session"] for r in records if r.get("event") == "call"}) == 2
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_debug_logs_never_carry_argument_values(tmp_path: Path) -> None:
    env = gateway_env(tmp_path) | {"MCPWARDEN_LOG": "debug"}
    with raw_gateway(gateway_args(write_policy(tmp_path), server="fx"), env) as gw:
        gw.initialize()
        for tool in ("echo", "payload_size"):
            arguments = {"text": SECRET_VALUE} if tool == "echo" else {"data": SECRET_VALUE}
            assert "result" in gw.call_tool(tool, arguments)
        gw.close_stdin()
        assert gw.wait_exit(10) == 0
        assert gw.no_line_within(0.3) is None, "stdout carries only protocol messages, also at debug level"
        assert "mcpwarden" in gw.stderr, "debug logging should have said something"
        assert SECRET_VALUE not in gw.stderr, "an argument value was logged"
    assert SECRET_VALUE.encode() not in (tmp_path / "audit.jsonl").read_bytes()


async def test_log_survives_kill_9_mid_traffic_and_the_next_session_continues_it(tmp_path: Path) -> None:
    policy = write_policy(tmp_path)
    args = gateway_args(policy, server="fx")
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(gw.call_tool("pid")["result"]["content"][0]["text"]))
        burst = b"".join(
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"b%d"}}}\n'
            % (i, i)
            for i in range(1, 301)
        )
        gw.send(burst)
        for _ in range(40):  # kill while answers (and audit records) are still being produced
            gw.read_message()
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait_exit(5)
        kill_leftovers({child})
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    count_after_crash = len(audit_records(tmp_path))

    async with sdk_client(args, tmp_path, mode="legacy") as client:
        assert text_of(await client.call_tool("echo", {"text": "next session"})) == "next session"
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert len(audit_records(tmp_path)) > count_after_crash


def _call_records_within(tmp_path: Path, tool: str, want: int, seconds: float) -> list[dict[str, object]]:
    deadline = time.monotonic() + seconds
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        found = tool_records(audit_records(tmp_path, timeout=0.05), tool)
        if len(found) >= want:
            break
        time.sleep(0.01)
    return found


def test_an_answered_calls_record_is_written_without_further_traffic(tmp_path: Path) -> None:
    """A delivered call's record may wait for the client's next message (its writing then
    overlaps the server's work), but never longer than a moment when none comes."""
    with raw_gateway(gateway_args(write_policy(tmp_path), server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        assert gw.call_tool("echo", {"text": "only"})["result"]["content"][0]["text"] == "only"
        answered = time.monotonic()
        records = _call_records_within(tmp_path, "echo", 1, 2.0)
        waited = time.monotonic() - answered
        assert gw.proc.poll() is None, "the gateway is still serving: the record was not written by its shutdown"
    assert len(records) == 1 and records[0]["outcome"] == "result"
    assert waited < 1.0, f"the record took {waited:.3f} s to reach the log"


def test_kill_9_right_after_answers_loses_at_most_one_call_record(tmp_path: Path) -> None:
    with raw_gateway(gateway_args(write_policy(tmp_path), server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(gw.call_tool("pid")["result"]["content"][0]["text"]))
        for i in range(20):
            assert gw.call_tool("echo", {"text": f"k{i}"})["result"]["content"][0]["text"] == f"k{i}"
        os.kill(gw.pid, signal.SIGKILL)
        gw.wait_exit(5)
        kill_leftovers({child})
    echoes = tool_records(audit_records(tmp_path), "echo")
    assert len(echoes) >= 19, f"{20 - len(echoes)} answered calls lost their records to kill -9"
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_records_keep_the_order_of_answers_when_responses_come_back_to_back(tmp_path: Path) -> None:
    """Pipelined calls: answers arrive one after another with no client message between
    them, so each record that waits is written by the next; the log keeps their order."""
    with raw_gateway(gateway_args(write_policy(tmp_path), server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        burst = b"".join(
            b'{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"o%d"}}}\n'
            % (i, i)
            for i in range(1, 61)
        )
        gw.send(burst)
        answered = [gw.read_message()["id"] for _ in range(60)]
        records = _call_records_within(tmp_path, "echo", 60, 5.0)
    expected = [hashlib.sha256(b'{"text":"o%d"}' % i).hexdigest() for i in answered]
    assert [r["args_sha256"] for r in records] == expected


def test_argument_digests_of_small_large_and_too_deep_arguments(tmp_path: Path) -> None:
    """Small arguments are hashed when the record is written, large ones when the request
    arrives; both give the documented digest. Arguments nested deeper than orjson writes get
    a null digest, and the call is still answered and recorded."""
    large = "L" * (100 * 1024)
    deep = b"[" * 400 + b"]" * 400  # orjson reads 1024 levels and writes 255
    policy = write_policy(tmp_path, tools={"deny": ["write_*"]})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        assert gw.call_tool("echo", {"text": "small"})["result"]["content"][0]["text"] == "small"
        assert gw.call_tool("echo", {"text": large})["result"]["content"][0]["text"] == large
        # The SDK server never answers arguments this deep, so ask for a tool the policy denies.
        params = b'{"name":"write_note","arguments":{"text":%s}}' % deep
        gw.send(b'{"jsonrpc":"2.0","id":"deep","method":"tools/call","params":%s}\n' % params)
        answer = gw.read_message()
        assert answer["id"] == "deep" and "write_note" in answer["error"]["message"]
        echoes = _call_records_within(tmp_path, "echo", 2, 5.0)
        [denied] = _call_records_within(tmp_path, "write_note", 1, 5.0)
    assert [r["args_sha256"] for r in echoes] == [
        hashlib.sha256(b'{"text":"small"}').hexdigest(),
        hashlib.sha256(b'{"text":"%s"}' % large.encode()).hexdigest(),
    ]
    assert denied["args_sha256"] is None and denied["arg_keys"] == ["text"] and denied["verdict"] == "deny"
    verified = log_verify(tmp_path / "audit.jsonl")
    assert verified.returncode == 0, verified.stdout + verified.stderr


GITHUB_TOKEN = "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"  # a made-up token with a valid checksum


def test_a_secret_used_as_a_key_or_tool_name_never_reaches_the_log_or_the_error(tmp_path: Path) -> None:
    """Peers choose key and tool names: a secret written there is withheld from the audit
    record, the stderr log and the denial text, as the detection engine's paths withhold it."""
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        as_key = gw.request("tools/call", {"name": "echo", "arguments": {GITHUB_TOKEN: "x", "text": "hi"}})
        as_tool = gw.request("tools/call", {"name": GITHUB_TOKEN, "arguments": {"a": 1}})
        assert "error" in as_key and "error" in as_tool
        assert GITHUB_TOKEN not in str(as_key) + str(as_tool)
        gw.close_stdin()
        gw.wait_exit(10)
        assert GITHUB_TOKEN not in gw.stderr
    log = (tmp_path / "audit.jsonl").read_text()
    assert GITHUB_TOKEN not in log
    calls = [r for r in audit_records(tmp_path) if r.get("event") == "call" and r.get("method") == "tools/call"]
    assert ["{key#0}", "text"] in [r["arg_keys"] for r in calls]


def test_a_secret_used_as_a_method_or_id_never_reaches_the_log(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        as_method = gw.request(GITHUB_TOKEN, {})
        assert as_method["error"]["code"] == -31010 and GITHUB_TOKEN not in str(as_method)
        gw.send_json({"jsonrpc": "2.0", "id": GITHUB_TOKEN, "result": {}})  # answers nothing pending
        assert gw.wait_stderr("unknown id")
        gw.close_stdin()
        gw.wait_exit(10)
        assert GITHUB_TOKEN not in gw.stderr
    assert GITHUB_TOKEN not in (tmp_path / "audit.jsonl").read_text()
    assert any(r.get("method") == "(name withheld: it holds a finding)" for r in audit_records(tmp_path))


def test_a_token_in_a_one_string_command_is_not_repeated_when_it_cannot_start(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, command=[f"/nonexistent/my-server --api-key {GITHUB_TOKEN}"])
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        answer = gw.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                           "clientInfo": {"name": "t", "version": "0"}})
        assert answer["error"]["code"] == -31003 and "/nonexistent/my-server" in answer["error"]["message"]
        assert GITHUB_TOKEN not in str(answer)
        gw.wait_exit(10)
        assert GITHUB_TOKEN not in gw.stderr
    assert GITHUB_TOKEN not in (tmp_path / "audit.jsonl").read_text()


def test_a_secret_written_where_a_secret_reference_belongs_is_not_echoed(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(f"version: 1\nservers:\n  fx:\n    command: x\n    secrets: {{GITHUB_TOKEN: {GITHUB_TOKEN}}}\n")
    done = subprocess.run([sys.executable, "-m", "mcpwarden", "policy", "check", str(policy)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 5 and "not a secret reference" in done.stderr
    assert GITHUB_TOKEN not in done.stderr + done.stdout


def test_a_call_whose_names_are_not_unicode_is_still_audited(tmp_path: Path) -> None:
    """A lone surrogate escape is valid JSON and is relayed; the audit record cannot hold it,
    so those names are withheld rather than the record lost (with detection off, too)."""
    policy = write_policy(tmp_path)
    text = policy.read_text() + "detection:\n  enabled: false\n"
    policy.write_text(text)
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send(b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo\\ud800",'
                b'"arguments":{"k\\udc00":"v","text":"t"}}}\n')
        time.sleep(1)  # whatever the server makes of it, the call is audited when it ends
        gw.close_stdin()
        gw.wait_exit(10)
        assert "could not write an audit record" not in gw.stderr
    calls = [r for r in audit_records(tmp_path) if r.get("event") == "call" and r.get("method") == "tools/call"]
    assert calls and calls[-1]["arg_keys"] == ["{key#0}", "text"]
    assert calls[-1]["tool"] == "(name withheld: not valid Unicode)"


@pytest.mark.parametrize("tools", [{"allow": ["echo"]}, {"deny": ["ghp_*"]}, {"read_only": True}])
def test_a_secret_used_as_a_tool_name_is_not_repeated_by_a_tool_rule(tmp_path: Path, tools: dict[str, Any]) -> None:
    """The tool rules judge a call before detection does: their denial must withhold a
    secret used as the tool's name too, while still naming the rule."""
    with raw_gateway(through_gateway(tmp_path, tools=tools), gateway_env(tmp_path)) as gw:
        gw.initialize()
        answer = gw.request("tools/call", {"name": GITHUB_TOKEN, "arguments": {}})
    assert answer["error"]["code"] == codes.DENIED and "servers.fx.tools" in answer["error"]["message"]
    assert GITHUB_TOKEN not in str(answer)
