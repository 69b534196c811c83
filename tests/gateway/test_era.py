"""The session's protocol era follows what the upstream accepts: a server of the 2026-07-28
era only refuses ``initialize``, and the gateway must not treat the session as a handshake
session afterwards (it would replay the refused ``initialize`` after every restart)."""

from __future__ import annotations

import time
from pathlib import Path

import psutil

from .conftest import FIXTURES, PYTHON, gateway_env, raw_gateway, through_gateway, upstream_pid_of, wait_gone

STATELESS = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": STATELESS,
    "io.modelcontextprotocol/clientInfo": {"name": "era-test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def test_refused_initialize_leaves_a_stateless_session_that_survives_a_restart(tmp_path: Path) -> None:
    upstream = [PYTHON, str(FIXTURES / "stateless_server.py")]
    with raw_gateway(through_gateway(tmp_path, command=upstream), gateway_env(tmp_path)) as gw:
        refused = gw.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                            "clientInfo": {"name": "era-test", "version": "1"}})
        assert refused["error"]["code"] == -32601
        discovered = gw.request("server/discover", {"_meta": META})
        assert STATELESS in discovered["result"]["supportedVersions"]

        first = psutil.Process(upstream_pid_of(gw.proc.pid))
        first.kill()
        assert wait_gone(first, 5)
        deadline = time.monotonic() + 20
        while True:  # the restart takes a moment; calls meanwhile are queued or fail with -31003
            listed = gw.request("tools/list", {"_meta": META}, timeout=20)
            if "result" in listed or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [t["name"] for t in listed["result"]["tools"]] == ["echo", "lookup_note"]
        assert upstream_pid_of(gw.proc.pid) != first.pid
        assert "replayed initialize" not in gw.stderr


def test_read_only_mode_lists_tools_itself_with_the_stateless_meta(tmp_path: Path) -> None:
    """In read-only mode the gateway fetches tools/list itself before the first call; in the
    2026-07-28 era that request must carry the client's protocol version, client info and
    capabilities, or a server that checks them refuses it and every call is denied."""
    upstream = [PYTHON, str(FIXTURES / "stateless_server.py")]
    tools = {"read_only": True, "reads": ["echo"]}
    with raw_gateway(through_gateway(tmp_path, command=upstream, tools=tools), gateway_env(tmp_path)) as gw:
        gw.request("server/discover", {"_meta": META})
        called = gw.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}, "_meta": META}, timeout=20)
        # The fixture lists tools but serves no tools/call: its own -32601 proves the call was
        # let through (the gateway's denial would be -31001, "has not been listed").
        assert called["error"]["code"] == -32601, called
        assert "refused the gateway's tools/list" not in gw.stderr


def test_a_subscription_stream_is_not_timed_out(tmp_path: Path) -> None:
    """subscriptions/listen stays open until the client cancels it: the gateway's request
    timeout must not end it (list-changed notifications only come through it)."""
    args = through_gateway(tmp_path, gateway={"request_timeout": 1.5})
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        gw.request("server/discover", {"_meta": META})
        gw.send_json({"jsonrpc": "2.0", "id": "listen-1", "method": "subscriptions/listen",
                      "params": {"_meta": META, "notifications": {"toolsListChanged": True}}})
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:  # the acknowledgement, then nothing: above all no -31004
            line = gw.no_line_within(max(0.05, deadline - time.monotonic()))
            if line is not None:
                assert b'"listen-1"' not in line or b"-31004" not in line, line
                assert b"error" not in line, line


HANG_INIT_SERVER = r"""
import sys
with open(sys.argv[1], "ab") as log:
    for line in sys.stdin.buffer:
        log.write(line)
        log.flush()
"""


def test_a_timed_out_initialize_is_not_cancelled_upstream(tmp_path: Path) -> None:
    """The spec: the initialize request MUST NOT be cancelled. The client still gets -31004."""
    seen = tmp_path / "server-read.jsonl"
    script = tmp_path / "hang_init.py"
    script.write_text(HANG_INIT_SERVER)
    args = through_gateway(tmp_path, command=[PYTHON, str(script), str(seen)],
                           gateway={"request_timeout": 1, "startup_timeout": 1})
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        answer = gw.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                           "clientInfo": {"name": "era-test", "version": "1"}}, timeout=10)
        assert answer["error"]["code"] == -31004
        time.sleep(0.5)
    assert b"notifications/cancelled" not in seen.read_bytes()
    assert b'"initialize"' in seen.read_bytes()
