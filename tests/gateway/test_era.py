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
