"""The upstream's life: crash (pending requests fail promptly, restart with backoff, audited,
the handshake replayed), hang (request timeout), shutdown escalation, no orphans after the
gateway exits or is killed, and upstream stderr on the gateway's stderr."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import orjson
import psutil
import pytest
from mcp.shared.exceptions import MCPError

from mcpwarden.wire import codes

from .conftest import (
    BAD_SERVER,
    FAST_GATEWAY,
    MODERN_VERSION,
    PYTHON,
    RawGateway,
    audit_records,
    bad_command,
    descendants,
    gateway_args,
    gateway_env,
    kill_leftovers,
    raw_gateway,
    sdk_client,
    text_content,
    text_of,
    through_gateway,
    tool_records,
    upstream_pid_of,
    wait_gone,
    write_policy,
)

pytestmark = pytest.mark.anyio

BOTH_ERAS = pytest.mark.parametrize("mode", ["legacy", MODERN_VERSION])
GRACE = FAST_GATEWAY["shutdown_grace"]
HANG_TIMEOUT = 4.0
"""Short enough for a quick test, long enough for the fixture to start on a loaded machine."""




async def pid_of_upstream(client: Any) -> int:
    return int(text_of(await client.call_tool("pid", {})))


async def call_until_it_works(client: Any, tool: str, arguments: dict[str, Any], seconds: float = 15.0) -> Any:
    """Retry while the gateway restarts the upstream; every failure must be UPSTREAM_UNAVAILABLE."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await client.call_tool(tool, arguments)
        except MCPError as exc:
            assert exc.code == codes.UPSTREAM_UNAVAILABLE, f"unexpected error while restarting: {exc.code} {exc}"
            if time.monotonic() > deadline:
                raise
            await anyio.sleep(0.1)


# ------------------------------------------------------------------ crash and restart


@BOTH_ERAS
async def test_crash_fails_the_pending_call_then_restarts(tmp_path: Path, mode: str) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=mode) as client:
        first_pid = await pid_of_upstream(client)
        first = psutil.Process(first_pid)
        started = time.monotonic()
        with pytest.raises(MCPError) as crashed:
            with anyio.fail_after(10):
                await client.call_tool("crash", {})
        assert crashed.value.code == codes.UPSTREAM_UNAVAILABLE
        assert time.monotonic() - started < 5, "the pending call must fail promptly, not at the request timeout"
        assert wait_gone(first, 5)

        # In the handshake era this works only if the gateway replays initialize to the new child.
        result = await call_until_it_works(client, "echo", {"text": "after restart"})
        assert text_of(result) == "after restart"
        second_pid = await pid_of_upstream(client)
        assert second_pid != first_pid
        assert (await client.call_tool("add", {"a": 20, "b": 22})).structured_content == {"result": 42}

    upstream_events = [r for r in audit_records(tmp_path) if r.get("event") == "upstream"]
    assert upstream_events, "the crash and restart must be in the audit log (event 'upstream')"
    starts = [r for r in upstream_events if r.get("action") == "start"]
    assert len(starts) == 2, (
        "one crash must cause exactly one restart; a second one means the fresh child was killed: "
        f"{[(r.get('action'), r.get('exit_code')) for r in upstream_events]}"
    )


def test_crash_fails_every_pending_request(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        slow_ids = [gw.new_id() for _ in range(3)]
        for msg_id in slow_ids:
            gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                          "params": {"name": "slow", "arguments": {"seconds": 30, "steps": 1}}})
        crash_id = gw.new_id()
        time.sleep(0.3)
        started = time.monotonic()
        gw.send_json({"jsonrpc": "2.0", "id": crash_id, "method": "tools/call", "params": {"name": "crash"}})
        errors = {}
        for _ in range(4):
            msg = gw.read_message(timeout=10)
            errors[msg["id"]] = msg.get("error", {}).get("code")
        assert errors == dict.fromkeys([*slow_ids, crash_id], codes.UPSTREAM_UNAVAILABLE)
        assert time.monotonic() - started < 5


def test_restart_replays_the_handshake_invisibly(tmp_path: Path) -> None:
    """After a crash the gateway initializes the new child itself; the client sees no second
    initialize response, no stray message, and its next calls simply work."""
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        info = gw.initialize()
        assert info["serverInfo"]["name"] == "mcpwarden-fixture"
        first = psutil.Process(int(text_content(gw.call_tool("pid"))))
        crashed = gw.call_tool("crash")
        assert crashed.get("error", {}).get("code") == codes.UPSTREAM_UNAVAILABLE
        assert wait_gone(first, 5)
        deadline = time.monotonic() + 20
        while True:
            response = gw.call_tool("echo", {"text": "after replay"}, timeout=20)
            if "result" in response or time.monotonic() > deadline:
                break
            assert response["error"]["code"] == codes.UPSTREAM_UNAVAILABLE, response
            time.sleep(0.1)
        assert text_content(response) == "after replay"
        assert int(text_content(gw.call_tool("pid"))) != first.pid
        assert gw.notifications == [] and gw.no_line_within(0.3) is None, "the replay must stay inside the gateway"


async def test_restarts_back_off_and_stop_after_max_restarts(tmp_path: Path) -> None:
    restart = {"max_restarts": 2, "initial_delay": 0.05, "max_delay": 0.08}
    async with sdk_client(through_gateway(tmp_path, restart=restart), tmp_path, mode="legacy") as client:
        for attempt in range(2):
            with pytest.raises(MCPError):
                await client.call_tool("crash", {})
            await call_until_it_works(client, "echo", {"text": f"restart {attempt + 1}"})
        with pytest.raises(MCPError):
            await client.call_tool("crash", {})
        await anyio.sleep(1.0)
        for _ in range(2):
            started = time.monotonic()
            with pytest.raises(MCPError) as refused:
                with anyio.fail_after(10):
                    await client.call_tool("echo", {"text": "no more restarts"})
            assert refused.value.code == codes.UPSTREAM_UNAVAILABLE
            assert time.monotonic() - started < 3, "a gateway that gave up must answer at once"

    # docs/audit.md: upstream records carry action, delay_s and attempt.
    upstream = [r for r in audit_records(tmp_path) if r.get("event") == "upstream"]
    restarts = [r for r in upstream if r.get("action") == "restart"]
    assert [r.get("attempt") for r in restarts] == [1, 2]
    assert [r.get("delay_s") for r in restarts] == [0.05, 0.08], "the delay doubles, capped at max_delay"
    assert [r.get("action") for r in upstream].count("give-up") == 1


async def test_healthy_running_resets_the_restart_count(tmp_path: Path) -> None:
    restart = {"max_restarts": 1, "initial_delay": 0.05, "max_delay": 0.1, "reset_after": 0.5}
    async with sdk_client(through_gateway(tmp_path, restart=restart), tmp_path, mode="legacy") as client:
        for round_no in range(2):
            with pytest.raises(MCPError):
                await client.call_tool("crash", {})
            await call_until_it_works(client, "echo", {"text": f"round {round_no}"})
            await anyio.sleep(1.0)  # healthy for longer than reset_after
        assert text_of(await client.call_tool("echo", {"text": "still restarting"})) == "still restarting"


def test_a_client_that_leaves_at_once_learns_why_its_request_was_not_answered(tmp_path: Path) -> None:
    """`echo REQUEST | mcpwarden run -- MISSING`: the answer names the start failure, not only
    that the gateway is shutting down."""
    missing = str(tmp_path / "no-such-server-binary")
    with raw_gateway(gateway_args(write_policy(tmp_path, command=[missing]), server="fx"), gateway_env(tmp_path)) as gw:
        gw.send_json({"jsonrpc": "2.0", "id": 5, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "raw", "version": "0"}}})
        gw.close_stdin()
        msg = gw.read_message()
        assert msg["id"] == 5 and msg["error"]["code"] == codes.UPSTREAM_UNAVAILABLE, msg
        assert "cannot start upstream server 'fx'" in msg["error"]["message"], msg
        assert gw.wait_exit(10) == 9


def test_upstream_that_cannot_start_fails_closed(tmp_path: Path) -> None:
    """A server command that cannot be started: the gateway stays up, answers each request
    once with -31003 naming the command and why, retries with backoff, gives up, and exits
    with code 9 when the client leaves."""
    missing = str(tmp_path / "no-such-server-binary")
    args = gateway_args(write_policy(tmp_path, command=[missing]), server="fx")
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        msg_id = gw.new_id()
        gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "initialize",
                      "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                                 "clientInfo": {"name": "raw", "version": "0"}}})
        msg = gw.read_message()
        assert msg["id"] == msg_id and msg["error"]["code"] == codes.UPSTREAM_UNAVAILABLE, msg
        assert "cannot start upstream server 'fx'" in msg["error"]["message"]
        assert "no-such-server-binary" in msg["error"]["message"]
        assert "No such file or directory" in msg["error"]["message"]
        assert gw.no_line_within(2) is None, "the request was answered twice"  # restarts and give-up pass meanwhile
        late = gw.call_tool("echo", {"text": "x"})
        assert late["error"]["code"] == codes.UPSTREAM_UNAVAILABLE and "not available" in late["error"]["message"]
        gw.close_stdin()
        assert gw.wait_exit(10) == 9
        assert "no-such-server-binary" in gw.stderr
    actions = [r.get("action") for r in audit_records(tmp_path) if r.get("event") == "upstream"]
    assert actions[0] == "start-failed" and "give-up" in actions and "exit" not in actions


# ------------------------------------------------------------------ hang


@BOTH_ERAS
async def test_hung_upstream_answers_timeout_and_session_continues(tmp_path: Path, mode: str) -> None:
    args = through_gateway(tmp_path, gateway={"request_timeout": HANG_TIMEOUT})
    async with sdk_client(args, tmp_path, mode=mode) as client:
        started = time.monotonic()
        with pytest.raises(MCPError) as timed_out:
            with anyio.fail_after(15):
                await client.call_tool("hang", {})
        elapsed = time.monotonic() - started
        assert timed_out.value.code == codes.UPSTREAM_TIMEOUT
        assert "hang" in timed_out.value.message or "tools/call" in timed_out.value.message
        assert HANG_TIMEOUT - 0.2 <= elapsed < HANG_TIMEOUT + 5
        result = await call_until_it_works(client, "echo", {"text": "after hang"})
        assert text_of(result) == "after hang"


# ------------------------------------------------------------------ shutdown and orphans


def test_closing_stdin_shuts_down_gateway_and_upstream(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(text_content(gw.call_tool("pid"))))
        try:
            gw.close_stdin()
            assert gw.wait_exit(10) == 0
            assert wait_gone(child, 5)
        finally:
            kill_leftovers({child})


def test_stubborn_upstream_gets_sigterm_then_sigkill(tmp_path: Path) -> None:
    """Shutdown closes the child's stdin, waits the grace period, sends SIGTERM, waits again,
    then SIGKILLs: the stubborn child records when it saw EOF and SIGTERM (monotonic clock)."""
    events_file = tmp_path / "events.txt"
    policy = write_policy(tmp_path, command=bad_command("--stubborn", "--events", str(events_file)))
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(text_content(gw.call_tool("pid"))))
        try:
            started = time.monotonic()
            gw.close_stdin()
            code = gw.wait_exit(2 * GRACE + 8)
            elapsed = time.monotonic() - started
            assert code is not None, "the gateway must not wait forever for a stubborn child"
            assert wait_gone(child, 3), "the child ignores SIGTERM and EOF: only SIGKILL ends it"
            assert elapsed >= 2 * GRACE - 0.1, "stdin close and SIGTERM each get the grace period first"
            assert elapsed < 2 * GRACE + 8
        finally:
            kill_leftovers({child})
    events = [line.split() for line in events_file.read_text().splitlines()]
    assert [name for _, name in events] == ["stdin-eof", "sigterm"], events
    eof_at, sigterm_at = (float(at) for at, _ in events)
    assert eof_at >= started - 0.01 and sigterm_at - eof_at >= GRACE - 0.1, "SIGTERM came before the grace period"


@pytest.mark.parametrize("upstream", ["fixture", "stubborn"])
def test_kill_9_of_the_gateway_leaves_no_orphan(tmp_path: Path, upstream: str) -> None:
    command = bad_command("--stubborn") if upstream == "stubborn" else None
    policy = write_policy(tmp_path, command=command)
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(text_content(gw.call_tool("pid"))))
        assert child.pid == upstream_pid_of(gw.pid)
        try:
            os.kill(gw.pid, signal.SIGKILL)
            assert gw.wait_exit(5) == -signal.SIGKILL
            assert wait_gone(child, 5), f"upstream pid {child.pid} outlived the killed gateway"
        finally:
            kill_leftovers({child})


def test_kill_9_of_the_gateway_also_ends_what_the_server_started(tmp_path: Path) -> None:
    """A server that started a helper of its own (a browser, a language server, the real
    server behind npx): PR_SET_PDEATHSIG reaches only the direct child, so the gateway's
    watchdog kills the server's whole process group when the gateway dies."""
    helper = f"{PYTHON} -c 'import time; time.sleep(60)'"
    command = ["/bin/sh", "-c", f"{helper} & exec {PYTHON} {BAD_SERVER}"]
    policy = write_policy(tmp_path, command=command)
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        server = psutil.Process(int(text_content(gw.call_tool("pid"))))
        started = [p for p in descendants(gw.pid) if p.pid != server.pid and p.ppid() == server.pid]
        assert len(started) == 1, started
        try:
            os.kill(gw.pid, signal.SIGKILL)
            assert gw.wait_exit(5) == -signal.SIGKILL
            assert wait_gone(server, 5), "the server outlived the killed gateway"
            assert wait_gone(started[0], 5), "what the server started outlived the killed gateway"
        finally:
            kill_leftovers({server, *started})


def test_sigterm_to_the_gateway_stops_the_upstream(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        child = psutil.Process(int(text_content(gw.call_tool("pid"))))
        try:
            os.kill(gw.pid, signal.SIGTERM)
            assert gw.wait_exit(2 * GRACE + 8) is not None
            assert wait_gone(child, 5)
        finally:
            kill_leftovers({child})


# ------------------------------------------------------------------ stderr and stdout


def test_upstream_stderr_reaches_gateway_stderr_and_stdout_stays_protocol(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        assert text_content(gw.call_tool("stderr_line", {"text": "mk-stderr-line-9"})) == "written"
        assert gw.wait_stderr("mk-stderr-line-9"), "upstream stderr must pass to the gateway's stderr"
        check_only_protocol_on_stdout(gw)


def check_only_protocol_on_stdout(gw: RawGateway) -> None:
    assert text_content(gw.call_tool("echo", {"text": "x"})) == "x"
    gw.close_stdin()
    assert gw.wait_exit(10) is not None
    line = gw.no_line_within(0.5)
    assert line is None, f"unexpected output on stdout after the session: {line[:200]!r}"


# ------------------------------------------------------------------ requests the gateway holds


def test_a_call_held_for_the_tool_list_times_out_and_is_audited(tmp_path: Path) -> None:
    """Read-only mode holds a tools/call until the gateway's own tools/list is answered; a
    server that never answers it leaves the call to its request timeout, like any other, and
    its id stays taken meanwhile."""
    policy = write_policy(
        tmp_path, command=bad_command("--hang-tools-list"), tools={"read_only": True},
        gateway={"request_timeout": 1},
    )
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        call = {"jsonrpc": "2.0", "id": "held-1", "method": "tools/call", "params": {"name": "echo", "arguments": {}}}
        gw.send_json(call)
        gw.send_json(call)
        duplicate = gw.read_message(timeout=1)
        assert duplicate["id"] == "held-1" and duplicate["error"]["code"] == codes.INVALID_REQUEST
        expired = gw.read_message(timeout=5)
        assert expired["id"] == "held-1" and expired["error"]["code"] == codes.UPSTREAM_TIMEOUT
        assert "tools/list" in expired["error"]["message"]
    [record] = tool_records(audit_records(tmp_path), "echo")
    assert record["outcome"] == "timeout"


def test_a_request_that_times_out_while_a_restart_is_slow_never_reaches_the_new_process(tmp_path: Path) -> None:
    """Requests sent while a crashed server restarts wait in a queue. One that times out
    there is answered -31004 and taken out of the queue: the new process never runs it (the
    client was told it failed, so it may retry)."""
    starts = tmp_path / "starts"
    policy = write_policy(
        tmp_path, command=bad_command("--slow-restart", "2.5", "--starts", str(starts)),
        gateway={"request_timeout": 1, "startup_timeout": 1},  # no longer allowance while it restarts
    )
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        crashed = gw.call_tool("crash")
        assert crashed["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        late = gw.call_tool("echo", {"text": "queued-7c1"}, timeout=5)
        assert late["error"]["code"] == codes.UPSTREAM_TIMEOUT
        for _ in range(6):  # the restart takes 2.5 s: ask until the new process answers
            seen = gw.call_tool("received", {"marker": "queued-7c1"}, timeout=5)
            if "result" in seen:
                break
    assert starts.read_text().split() == ["start", "start"]
    assert seen["result"]["structuredContent"]["result"] == [], "the timed-out request ran after all"


def test_requests_pending_at_shutdown_are_answered(tmp_path: Path) -> None:
    """A client that half-closes (stdin EOF) while a request is pending still reads stdout:
    the request gets an answer before the gateway exits."""
    policy = write_policy(tmp_path, command=bad_command("--hang-tools-list"))
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send_json({"jsonrpc": "2.0", "id": "last", "method": "tools/list", "params": {}})
        gw.close_stdin()
        answer = gw.read_message(timeout=10)
        assert gw.wait_exit(10) == 0
    assert answer["id"] == "last" and answer["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
    assert "shutting down" in answer["error"]["message"]
    outcomes = [r.get("outcome") for r in audit_records(tmp_path) if r.get("method") == "tools/list"]
    assert outcomes == ["abandoned"]


def test_a_server_request_reusing_a_pending_id_is_refused(tmp_path: Path) -> None:
    """The server sends two requests with one id: the client sees the first only, the server
    gets an error for the second, and the client's answer goes to the first."""
    policy = write_policy(tmp_path, command=bad_command())
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        assert gw.let_server_ask() == {"jsonrpc": "2.0", "id": "dup-ping", "method": "ping"}
        assert gw.no_line_within(0.5) is None, "the second request with the same id reached the client"
        gw.send_json({"jsonrpc": "2.0", "id": "dup-ping", "result": {}})
        seen = gw.call_tool("received", {"marker": "dup-ping"})["result"]["structuredContent"]["result"]
    assert len(seen) == 2
    assert '"code":-32600' in seen[0] and "already in use" in seen[0]
    assert orjson.loads(seen[1]) == {"jsonrpc": "2.0", "id": "dup-ping", "result": {}}


def test_a_held_call_that_is_cancelled_never_runs(tmp_path: Path) -> None:
    """Cancelled while held for the gateway's own tools/list: it is dropped, not run later."""
    policy = write_policy(
        tmp_path, command=bad_command("--slow-tools-list", "1"), tools={"read_only": True, "reads": ["received"]}
    )
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send_json({"jsonrpc": "2.0", "id": "doomed", "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "cancelled-3f9"}}})
        gw.notify("notifications/cancelled", {"requestId": "doomed"})
        seen = gw.call_tool("received", {"marker": "cancelled-3f9"}, timeout=10)
        assert gw.no_line_within(0.3) is None, "a cancelled request was answered"
    assert seen["result"]["structuredContent"]["result"] == []
    [record] = tool_records(audit_records(tmp_path), "echo")
    assert record["outcome"] == "cancelled"


def test_a_read_only_call_fails_at_once_when_the_upstream_has_given_up(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-server-binary")
    policy = write_policy(tmp_path, command=[missing], tools={"read_only": True})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.send_json({"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert gw.read_message()["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        assert gw.no_line_within(1.5) is None  # the restarts run out meanwhile
        began = time.monotonic()
        answer = gw.call_tool("echo", {"text": "x"}, timeout=10)
        waited = time.monotonic() - began
    assert answer["error"]["code"] == codes.UPSTREAM_UNAVAILABLE and waited < 2


def test_a_backlog_towards_a_server_that_crashed_does_not_stall_the_client(tmp_path: Path) -> None:
    """The server stops reading while the client sends more than the gateway queues, so the
    gateway stops reading the client; then the server crashes. The queue went with it: the
    gateway must read the client again (it used to stay paused for good, deaf even to EOF)."""
    policy = write_policy(tmp_path, command=bad_command("--slow-tools-list", "3"))
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send_json({"jsonrpc": "2.0", "id": "busy", "method": "tools/list"})  # the server sleeps 3 s
        gw.send_json({"jsonrpc": "2.0", "id": "crash", "method": "tools/call", "params": {"name": "crash"}})
        big = {"jsonrpc": "2.0", "id": "big", "method": "tools/call",
               "params": {"name": "echo", "arguments": {"text": "x" * (10 << 20)}}}
        gw.send(orjson.dumps(big) + b"\n", timeout=25)  # read in full only once the crash freed the queue
        assert "result" in gw.response_to("busy", timeout=10)
        assert gw.response_to("crash", timeout=10)["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        answer = gw.response_to("big", timeout=15)  # it was on its way to the server that crashed
        assert answer.get("error", {}).get("code") == codes.UPSTREAM_UNAVAILABLE or "result" in answer
        assert "result" in gw.request("ping", timeout=15)
        gw.close_stdin()
        assert gw.wait_exit(10) is not None


def test_what_waits_for_a_restarting_server_is_bounded_in_bytes(tmp_path: Path) -> None:
    """Messages the client sends while a crashed server waits for its restart are queued; past
    the queue's high water the client is no longer read (it was read without bound: 600 MB in
    6 s of restart delay), and once the new server is up everything goes on and is answered."""
    policy = write_policy(tmp_path, restart={"initial_delay": 4, "max_delay": 4, "max_restarts": 2})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        assert gw.call_tool("crash")["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        gateway = psutil.Process(gw.proc.pid)
        rss_before = gateway.memory_info().rss
        pad = "x" * (1 << 20)
        calls = b"".join(
            orjson.dumps({"jsonrpc": "2.0", "id": f"q{i}", "method": "ping", "params": {"_meta": {"pad": pad}}}) + b"\n"
            for i in range(48)
        )
        with pytest.raises(AssertionError, match="did not read"):
            gw.send(calls, timeout=2.5)  # the restart is 4 s away
        grown = (gateway.memory_info().rss - rss_before) / (1 << 20)
        assert grown < 24, f"the gateway queued {grown:.0f} MB for a server that is restarting"
        for i in range(48):  # the writer goes on in its thread once the new server is up
            assert "result" in gw.response_to(f"q{i}", timeout=30)


def test_a_client_that_does_not_read_is_not_read_either(tmp_path: Path) -> None:
    """Requests the gateway answers itself (here: reserved ids) while the client reads none of
    the answers: past the client writer's high water the client is no longer read, so the
    answers do not pile up in the gateway (they did without bound: 1.8 GB for 400,000)."""
    proc = subprocess.Popen(
        [PYTHON, *gateway_args(write_policy(tmp_path), server="fx")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=gateway_env(tmp_path),
    )
    assert proc.stdin is not None and proc.stdout is not None
    count = 40_000
    pad = b"r" * 1000
    calls = b"".join(b'{"jsonrpc":"2.0","id":"mcpwarden-%s-%d","method":"ping"}\n' % (pad, i) for i in range(count))

    def send() -> None:
        with contextlib.suppress(OSError):
            proc.stdin.write(calls)  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]

    writer = threading.Thread(target=send, daemon=True)
    try:
        gateway = psutil.Process(proc.pid)
        time.sleep(1.0)  # started
        rss_before = gateway.memory_info().rss
        writer.start()
        writer.join(6)
        assert writer.is_alive(), "the gateway read 42 MB from a client that reads none of its answers"
        grown = (gateway.memory_info().rss - rss_before) / (1 << 20)
        time.sleep(1)
        later = (gateway.memory_info().rss - rss_before) / (1 << 20)
        # 8 MiB of answers wait, and the heap they pin (~70 MB measured); it no longer grows
        assert grown < 100 and later - grown < 2, f"the gateway grew by {grown:.0f}, then {later:.0f} MB"
        seen = 0
        deadline = time.monotonic() + 60
        while seen < count and time.monotonic() < deadline:  # reading lets the rest go on
            line = proc.stdout.readline()
            if not line:
                break
            seen += b"are reserved" in line
        assert seen == count
        writer.join(10)
        assert not writer.is_alive()
        proc.stdin.close()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_restarted_server_waits_while_the_client_is_not_reading(tmp_path: Path) -> None:
    """The client's backlog paused the server's output; the server is replaced: the new one
    must be paused too, or its output piles up in the gateway without bound."""
    policy = write_policy(tmp_path)
    proc = subprocess.Popen(
        [PYTHON, *gateway_args(policy, server="fx")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=gateway_env(tmp_path),
    )
    assert proc.stdin is not None and proc.stdout is not None
    seen: list[int] = []

    def send(obj: dict[str, Any]) -> None:
        proc.stdin.write(orjson.dumps(obj) + b"\n")  # type: ignore[union-attr]
        proc.stdin.flush()  # type: ignore[union-attr]

    def big_calls(prefix: str, count: int) -> None:
        for i in range(count):
            send({"jsonrpc": "2.0", "id": f"{prefix}{i}", "method": "tools/call",
                  "params": {"name": "big_result", "arguments": {"size_bytes": 1 << 20}}})

    try:
        send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}})
        assert b'"id":0' in proc.stdout.readline()
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        seen = descendants(proc.pid)
        big_calls("a", 16)  # 16 MB of answers the client never reads: over the 8 MiB high water
        time.sleep(4)
        send({"jsonrpc": "2.0", "id": "crash", "method": "tools/call", "params": {"name": "crash"}})
        time.sleep(3)  # crash and restart while the client still reads nothing
        seen += descendants(proc.pid)
        gateway = psutil.Process(proc.pid)
        rss_before = gateway.memory_info().rss
        big_calls("b", 24)  # the new server's 24 MB must wait in its own pipe
        time.sleep(5)
        grown = (gateway.memory_info().rss - rss_before) / (1 << 20)
        assert grown < 12, f"the gateway buffered {grown:.0f} MB more for a client that is not reading"
    finally:
        seen += descendants(proc.pid)
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stdin.close()
        kill_leftovers(seen)


STALE_GROUP_SCRIPT = r"""
import json, os, subprocess, sys, time
python, policy, env_json = sys.argv[1], sys.argv[2], sys.argv[3]
gw = subprocess.Popen([python, "-m", "mcpwarden", "run", "--policy", policy, "--server", "fx"],
                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                      env=json.loads(env_json))
def call(msg_id, method, params=None):
    msg = {"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params or {}}
    gw.stdin.write(json.dumps(msg).encode() + b"\n")
    gw.stdin.flush()
    return json.loads(gw.stdout.readline())
call(1, "initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                      "clientInfo": {"name": "t", "version": "0"}})
upstream = int(call(2, "tools/call", {"name": "pid"})["result"]["content"][0]["text"])
call(3, "tools/call", {"name": "crash"})
time.sleep(1)  # max_restarts 0: the gateway gave up and reaped the server
with open("/proc/sys/kernel/ns_last_pid", "w") as f:
    f.write(str(upstream - 1))
victim = subprocess.Popen(["sleep", "60"], start_new_session=True)  # leads a group with the old id
gw.stdin.close()
gw.wait(timeout=20)
time.sleep(0.3)
alive = victim.poll() is None
victim.kill()
victim.wait()
print(json.dumps({"same_pid": victim.pid == upstream, "victim_survived": alive}))
"""


def test_shutdown_after_give_up_never_signals_a_reused_process_group(tmp_path: Path) -> None:
    """Once the server is reaped its pid may be reused by an unrelated group leader: shutting
    down must not SIGKILL that group. A pid namespace lets the test hand the old pid over."""
    probe = subprocess.run(["unshare", "-pf", "--mount-proc", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip("needs unshare -pf (a new pid namespace) to reuse a pid on purpose")
    policy = write_policy(tmp_path, command=bad_command(), restart={"initial_delay": 0.05, "max_restarts": 0})
    done = subprocess.run(
        ["unshare", "-pf", "--mount-proc", PYTHON, "-c", STALE_GROUP_SCRIPT, PYTHON, str(policy),
         orjson.dumps(gateway_env(tmp_path)).decode()],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outcome = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert outcome["same_pid"], "the pid was not handed over; the test proves nothing"
    assert outcome["victim_survived"], "the gateway SIGKILLed a process group that was no longer its server's"


CLEANUP_SERVER = r"""
import json, os, signal, sys, time
marker = sys.argv[1]
signal.signal(signal.SIGTERM, lambda *a: open(marker, "a").write("sigterm\n"))
for line in sys.stdin:
    m = json.loads(line)
    if "id" in m:
        result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "0"}}
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": result}) + "\n")
        sys.stdout.flush()
os.close(1)  # stdin EOF: the session is over; close the protocol channel, then save state
time.sleep(1.0)
open(marker, "a").write("cleanup-done\n")
"""

DEAF_SERVER = r"""
import json, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
m = json.loads(sys.stdin.readline())
result = {"protocolVersion": "2025-11-25", "capabilities": {}, "serverInfo": {"name": "s", "version": "0"}}
sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": result}) + "\n")
sys.stdout.flush()
time.sleep(120)  # reads nothing more and ignores SIGTERM
"""


def test_a_server_that_closes_stdout_to_clean_up_gets_its_grace_period(tmp_path: Path) -> None:
    marker = tmp_path / "events"
    script = tmp_path / "cleanup_server.py"
    script.write_text(CLEANUP_SERVER)
    policy = write_policy(tmp_path, command=[PYTHON, str(script), str(marker)], gateway={"shutdown_grace": 3})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.close_stdin()
        assert gw.wait_exit(15) is not None
    assert marker.read_text().splitlines() == ["cleanup-done"]  # not SIGKILLed 0.2 s after closing stdout


def test_shutdown_takes_two_grace_periods_even_with_input_still_queued(tmp_path: Path) -> None:
    script = tmp_path / "deaf_server.py"
    script.write_text(DEAF_SERVER)
    policy = write_policy(tmp_path, command=[PYTHON, str(script)], gateway={"shutdown_grace": 1.5})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        seen = descendants(gw.pid)
        params = {"level": "info", "data": "a" * (1 << 20)}
        note = {"jsonrpc": "2.0", "method": "notifications/message", "params": params}
        for _ in range(4):  # 4 MB the server never reads: queued in the gateway
            gw.send_json(note)
        time.sleep(0.5)
        started = time.monotonic()
        os.kill(gw.pid, signal.SIGTERM)
        assert gw.wait_exit(20) is not None
        took = time.monotonic() - started
    # Documented: shutdown_grace after closing stdin, again after SIGTERM (then SIGKILL).
    assert took < 2 * 1.5 + 1.0, f"shutdown took {took:.1f} s"
    assert all(wait_gone(pid, 5) for pid in seen)


TTY_SESSION = r"""
import fcntl, os, subprocess, sys
gateway = subprocess.run([sys.executable, "-m", "mcpwarden", "run", "--", sys.executable, sys.argv[1]],
                         stderr=subprocess.DEVNULL, timeout=60)
nonblocking = bool(fcntl.fcntl(1, fcntl.F_GETFL) & os.O_NONBLOCK)
print(f"exit={gateway.returncode} nonblocking-after={nonblocking}", flush=True)
"""


def test_a_terminal_is_given_back_blocking(tmp_path: Path) -> None:
    """Run by hand in a terminal (README quickstart) and ended with Ctrl-D, the gateway must
    not leave the terminal non-blocking: the shell shares it, and later commands would fail."""
    import pty
    import select

    env = gateway_env(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:  # the child: a "shell" session on the terminal
        os.execve(sys.executable, [sys.executable, "-c", TTY_SESSION, BAD_SERVER], env)
    out = b""
    sent_eof = False
    deadline = time.monotonic() + 40
    try:
        while time.monotonic() < deadline and b"nonblocking-after" not in out:
            ready, _, _ = select.select([fd], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
            elif not sent_eof and time.monotonic() > deadline - 37:
                os.write(fd, b"\x04")  # Ctrl-D: the gateway's stdin ends
                sent_eof = True
    finally:
        os.waitpid(pid, 0)
        os.close(fd)
    assert b"exit=0" in out, out[-500:]
    assert b"nonblocking-after=False" in out, out[-500:]


DETACHING_SERVER = r"""
import json, os, subprocess, sys
for line in sys.stdin:
    m = json.loads(line)
    if "id" not in m:
        continue
    method, params = m.get("method"), m.get("params") or {}
    result = {}
    if method == "initialize":
        info = {"name": "d", "version": "0"}
        result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": info}
    elif method == "tools/call" and params.get("name") == "detach":
        helper = subprocess.Popen(["sleep", "300"], start_new_session=True)  # like Node's detached spawn
        result = {"content": [{"type": "text", "text": str(helper.pid)}]}
    elif method == "tools/call" and params.get("name") == "orphan":
        if os.fork() == 0:  # double fork: the grandchild is orphaned at once, then ends on its own
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "0.3"])
            os._exit(0)
        os.wait()
        result = {"content": [{"type": "text", "text": "ok"}]}
    elif method == "tools/call" and params.get("name") == "crash":
        os._exit(3)
    sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": result}) + "\n")
    sys.stdout.flush()
"""


@pytest.mark.parametrize("how", ["client-eof", "crash"])
def test_a_helper_that_left_the_process_group_ends_with_its_server(tmp_path: Path, how: str) -> None:
    """A helper started in a session of its own (setsid; Playwright's browser) leaves the
    server's process group; the gateway adopts it as a subreaper and ends it with the server."""
    script = tmp_path / "detaching_server.py"
    script.write_text(DETACHING_SERVER)
    policy = write_policy(tmp_path, command=[PYTHON, str(script)])
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        helper = int(gw.call_tool("detach")["result"]["content"][0]["text"])
        assert psutil.pid_exists(helper) and os.getsid(helper) == helper
        if how == "crash":
            gw.call_tool("crash")
            assert wait_gone(helper, 5), "the detached helper outlived its crashed server"
            assert "result" in gw.call_tool("detach", timeout=15)  # the restarted server serves on
        else:
            gw.close_stdin()
            assert gw.wait_exit(15) is not None
            assert wait_gone(helper, 5), "the detached helper outlived the gateway"


def test_orphans_that_end_on_their_own_are_reaped(tmp_path: Path) -> None:
    script = tmp_path / "detaching_server.py"
    script.write_text(DETACHING_SERVER)
    policy = write_policy(tmp_path, command=[PYTHON, str(script)])
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        for _ in range(3):
            gw.call_tool("orphan")
        time.sleep(1.5)
        zombies = [p for p in psutil.Process(gw.pid).children() if p.status() == psutil.STATUS_ZOMBIE]
        assert zombies == [], f"adopted orphans left as zombies: {zombies}"
