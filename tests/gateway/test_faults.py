"""A fault inside the gateway itself (a bug) while it handles one message: the peer waiting
for an answer gets -31007 instead of silence, the log names the exception's type and where
(never a value), the fault is audited, and the session goes on. The fault is planted in a
real gateway process by tests/fixtures/faulty_gateway.py."""

from __future__ import annotations

import time
from pathlib import Path

from mcpwarden.wire import codes

from .conftest import FIXTURES, audit_records, bad_command, gateway_env, raw_gateway, write_policy

FAULTY = str(FIXTURES / "faulty_gateway.py")
PLANTED_VALUE = "a value that must never reach a log"


def _faulty_args(tmp_path: Path) -> list[str]:
    return [FAULTY, "run", "--policy", str(write_policy(tmp_path)), "--server", "fx"]


def _error_records(tmp_path: Path, want: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 5
    found: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        found = [r for r in audit_records(tmp_path, timeout=0.05) if r.get("event") == "error"]
        if len(found) >= want:
            break
        time.sleep(0.02)
    return found


def test_a_fault_while_handling_a_request_answers_it_and_the_session_goes_on(tmp_path: Path) -> None:
    with raw_gateway(_faulty_args(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        answer = gw.call_tool("explode", {"text": "x"})
        assert answer["error"]["code"] == codes.GATEWAY_FAILED
        assert "internal error" in answer["error"]["message"] and "not passed on" in answer["error"]["message"]
        assert gw.call_tool("echo", {"text": "still here"})["result"]["content"][0]["text"] == "still here"
        [record] = _error_records(tmp_path, 1)
        stderr = gw.stderr
    assert record["origin"] == "client" and record["method"] == "tools/call" and record["reason"] == "KeyError"
    assert "internal error handling a request ('tools/call') from the client: KeyError at faulty_gateway.py" in stderr
    assert PLANTED_VALUE not in stderr


def test_a_fault_while_handling_a_response_answers_the_client(tmp_path: Path) -> None:
    with raw_gateway(_faulty_args(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        answer = gw.call_tool("explode_late", {})
        assert answer["error"]["code"] == codes.GATEWAY_FAILED
        assert gw.call_tool("echo", {"text": "after"})["result"]["content"][0]["text"] == "after"
        [record] = _error_records(tmp_path, 1)
        stderr = gw.stderr
    assert record["origin"] == "server" and record["reason"] == "ValueError"
    assert "from the server: ValueError at faulty_gateway.py" in stderr
    assert PLANTED_VALUE not in stderr


def test_a_fault_in_a_call_held_for_the_tool_list_answers_it_once(tmp_path: Path) -> None:
    """Read-only mode holds a call until the gateway's own tools/list is answered; a fault
    when it is released still answers it (once), and the calls held with it go on."""
    policy = write_policy(tmp_path, command=bad_command(), tools={"read_only": True})
    with raw_gateway([FAULTY, "run", "--policy", str(policy), "--server", "fx"], gateway_env(tmp_path)) as gw:
        gw.initialize()
        for msg_id, tool in (("a", "explode"), ("b", "echo")):
            gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                          "params": {"name": tool, "arguments": {"text": "held"}}})
        answers = {m["id"]: m for m in (gw.read_message(), gw.read_message())}
        assert gw.no_line_within(0.5) is None, "a call was answered twice"
    assert answers["a"]["error"]["code"] == codes.GATEWAY_FAILED
    assert answers["b"]["result"]["content"][0]["text"] == "held"


def test_a_fault_while_handling_the_clients_answer_to_a_server_request_answers_the_server(tmp_path: Path) -> None:
    """The server waits for the client's answer to its request: a fault while handling that
    answer sends the server -31007 instead of leaving it waiting."""
    policy = write_policy(tmp_path, command=bad_command())
    with raw_gateway([FAULTY, "run", "--policy", str(policy), "--server", "fx"], gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.let_server_ask()
        gw.send_json({"jsonrpc": "2.0", "id": "dup-ping", "result": {"explode": True}})
        seen = gw.call_tool("received", {"marker": "dup-ping"})["result"]["structuredContent"]["result"]
    assert any('"code":-31007' in line for line in seen), seen
