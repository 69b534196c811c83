"""`gateway.startup_timeout`: a server that starts slowly (npx or uvx fetching a package) gets
the start-up allowance for the requests sent before it first answered, while later requests
keep `gateway.request_timeout`."""

from __future__ import annotations

import time
from pathlib import Path

from mcpwarden.wire import codes

from .conftest import (
    FIXTURE_SERVER,
    HANDSHAKE_VERSION,
    PYTHON,
    gateway_env,
    raw_gateway,
    through_gateway,
)

REQUEST_TIMEOUT = 1.0


def slow_start(seconds: float) -> list[str]:
    """The fixture server, started only after ``seconds`` of silence (like an npx download)."""
    return ["/bin/sh", "-c", f'sleep {seconds}; exec "$0" "$1"', PYTHON, FIXTURE_SERVER]


def initialize_params() -> dict[str, object]:
    return {"protocolVersion": HANDSHAKE_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}


def test_slow_start_is_covered_by_startup_timeout(tmp_path: Path) -> None:
    delay = 2.5  # longer than request_timeout, well inside startup_timeout
    args = through_gateway(
        tmp_path,
        command=slow_start(delay),
        gateway={"request_timeout": REQUEST_TIMEOUT, "startup_timeout": 60},
    )
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        started = time.monotonic()
        response = gw.request("initialize", initialize_params(), timeout=60)
        assert "result" in response, f"initialize failed during a slow start: {response}"
        assert time.monotonic() - started >= delay - 0.2
        gw.notify("notifications/initialized")
        # Once the server has answered, the ordinary request timeout applies again.
        started = time.monotonic()
        timed_out = gw.call_tool("hang", timeout=30)
        elapsed = time.monotonic() - started
        assert timed_out["error"]["code"] == codes.UPSTREAM_TIMEOUT
        assert "gateway.request_timeout" in timed_out["error"]["message"]
        assert REQUEST_TIMEOUT - 0.2 <= elapsed < REQUEST_TIMEOUT + 5


def test_start_longer_than_startup_timeout_fails_with_its_name(tmp_path: Path) -> None:
    startup_timeout = 1.5
    args = through_gateway(
        tmp_path,
        command=slow_start(30),
        gateway={"request_timeout": REQUEST_TIMEOUT, "startup_timeout": startup_timeout},
    )
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        started = time.monotonic()
        response = gw.request("initialize", initialize_params(), timeout=30)
        elapsed = time.monotonic() - started
        error = response["error"]
        assert error["code"] == codes.UPSTREAM_TIMEOUT
        assert "initialize" in error["message"] and "gateway.startup_timeout" in error["message"]
        # Not the shorter request_timeout: the start-up allowance was applied.
        assert startup_timeout - 0.2 <= elapsed < startup_timeout + 5


def test_requests_sent_while_a_crashed_server_restarts_get_the_allowance(tmp_path: Path) -> None:
    delay = 2.5  # each start of the server takes this long, longer than request_timeout
    args = through_gateway(
        tmp_path,
        command=slow_start(delay),
        gateway={"request_timeout": REQUEST_TIMEOUT, "startup_timeout": 60},
    )
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        assert "result" in gw.request("initialize", initialize_params(), timeout=60)
        gw.notify("notifications/initialized")
        crashed = gw.call_tool("crash", timeout=30)
        assert crashed["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        started = time.monotonic()
        echoed = gw.call_tool("echo", {"text": "after a slow restart"}, timeout=60)
        assert "result" in echoed, f"a call made during the restart timed out: {echoed}"
        assert time.monotonic() - started >= delay - 0.5  # it really waited for the new server
        # The new server has spoken: the ordinary request timeout applies again.
        timed_out = gw.call_tool("hang", timeout=30)
        assert "gateway.request_timeout" in timed_out["error"]["message"]
