"""The official SDK client talks to the SDK fixture server through `mcpwarden run`, in both
protocol eras: calls, big messages, progress, server->client requests, notifications,
cancellation and InputRequiredResult all make it through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from mcpwarden.wire import codes

from .conftest import (
    HANDSHAKE_VERSION,
    MODERN_VERSION,
    bad_command,
    fixture_command,
    gateway_args,
    sdk_client,
    text_of,
    through_gateway,
)

pytestmark = pytest.mark.anyio

BOTH_ERAS = pytest.mark.parametrize("mode", ["legacy", MODERN_VERSION])
FIFTY_MB = 50 * 1000 * 1000
FIVE_MB = 5 * 1000 * 1000



async def sampling_callback(ctx: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    first = params.messages[0].content
    prompt = first.text if isinstance(first, types.TextContent) else "?"
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"reply to {prompt}"), model="test-model-7"
    )


async def elicitation_callback(ctx: Any, params: Any) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": f"yes to {params.message}"})


async def list_roots_callback(ctx: Any) -> types.ListRootsResult:
    return types.ListRootsResult(roots=[types.Root(uri="file:///srv/project-a"), types.Root(uri="file:///srv/b")])


CALLBACKS = {
    "sampling_callback": sampling_callback,
    "elicitation_callback": elicitation_callback,
    "list_roots_callback": list_roots_callback,
}


@BOTH_ERAS
async def test_list_and_call_tools(tmp_path: Path, mode: str) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=mode) as client:
        assert client.protocol_version == (HANDSHAKE_VERSION if mode == "legacy" else MODERN_VERSION)
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert {"echo", "add", "write_note", "big_result", "slow", "crash", "hang"} <= set(listed)
        assert listed["echo"].annotations is not None and listed["echo"].annotations.read_only_hint is True
        assert listed["write_note"].annotations is not None and listed["write_note"].annotations.read_only_hint is False

        assert text_of(await client.call_tool("echo", {"text": "héllo wörld ✓"})) == "héllo wörld ✓"
        added = await client.call_tool("add", {"a": 2, "b": 3})
        assert not added.is_error
        assert added.structured_content == {"result": 5}


async def test_auto_mode_negotiates_the_modern_era(tmp_path: Path) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode="auto") as client:
        assert client.protocol_version == MODERN_VERSION
        assert text_of(await client.call_tool("echo", {"text": "auto"})) == "auto"


async def test_auto_mode_falls_back_to_the_handshake_with_a_legacy_upstream(tmp_path: Path) -> None:
    """bad_server.py knows no server/discover: the SDK's probe gets an error through the gateway,
    falls back to initialize, and the session works."""
    async with sdk_client(through_gateway(tmp_path, command=bad_command()), tmp_path, mode="auto") as client:
        assert client.protocol_version == HANDSHAKE_VERSION
        assert text_of(await client.call_tool("echo", {"text": "fallback"})) == "fallback"


async def test_without_policy_the_default_relays_everything(tmp_path: Path) -> None:
    async with sdk_client(gateway_args(upstream=fixture_command()), tmp_path, mode="legacy") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "write_note", "crash"} <= names
        assert text_of(await client.call_tool("write_note", {"text": "abc"})) == "wrote 3 characters"
    assert (tmp_path / "state" / "mcpwarden" / "audit.jsonl").exists(), "default audit path follows XDG_STATE_HOME"


@BOTH_ERAS
async def test_big_messages_pass_both_ways(tmp_path: Path, mode: str) -> None:
    """50 MB towards the upstream; 5 MB back, because the SDK client's own stdio reader is
    quadratic on long lines (20 MB take 8 s direct). test_large_messages.py sends 50 MB back."""
    args = through_gateway(tmp_path, gateway={"request_timeout": 60})
    async with sdk_client(args, tmp_path, mode=mode, read_timeout_seconds=60) as client:
        sent = await client.call_tool("payload_size", {"data": "z" * FIFTY_MB})
        assert sent.structured_content == {"result": FIFTY_MB}
        text = text_of(await client.call_tool("big_result", {"size_bytes": FIVE_MB}))
        assert len(text) == FIVE_MB and set(text) == {"x"}


@BOTH_ERAS
async def test_concurrent_calls_get_their_own_answers(tmp_path: Path, mode: str) -> None:
    answers: dict[int, str] = {}
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=mode) as client:

        async def call(i: int) -> None:
            answers[i] = text_of(await client.call_tool("sleep_then_echo", {"text": f"caller-{i}", "seconds": 0}))

        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:
                for i in range(16):
                    tg.start_soon(call, i)
    assert answers == {i: f"caller-{i}" for i in range(16)}


@BOTH_ERAS
async def test_progress_notifications_reach_the_callback(tmp_path: Path, mode: str) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=mode) as client:
        result = await client.call_tool("slow", {"seconds": 0.3, "steps": 3}, progress_callback=on_progress)
        assert text_of(result) == "slept 0.3"
    assert seen == [(1, 3, "step 1 of 3"), (2, 3, "step 2 of 3"), (3, 3, "step 3 of 3")]


async def test_server_requests_reach_the_client_in_the_handshake_era(tmp_path: Path) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode="legacy", **CALLBACKS) as client:
        assert text_of(await client.call_tool("sample", {"prompt": "what time is it"})) == (
            "model=test-model-7 text=reply to what time is it"
        )
        assert text_of(await client.call_tool("ask", {"question": "proceed?"})) == (
            "action=accept answer=yes to proceed?"
        )
        roots = await client.call_tool("roots", {})
        assert roots.structured_content == {"result": ["file:///srv/project-a", "file:///srv/b"]}
        assert text_of(await client.call_tool("ping_client", {})) == "pong"


async def test_list_changed_notification_reaches_the_client(tmp_path: Path) -> None:
    received: list[Any] = []
    arrived = anyio.Event()

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            received.append(message)
            arrived.set()

    async with sdk_client(through_gateway(tmp_path), tmp_path, mode="legacy", message_handler=on_message) as client:
        assert text_of(await client.call_tool("notify_list_changed", {})) == "sent"
        with anyio.fail_after(5):
            await arrived.wait()
    assert len(received) == 1


@BOTH_ERAS
async def test_cancellation_reaches_the_server(tmp_path: Path, mode: str) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=mode) as client:
        with anyio.move_on_after(0.8) as scope:
            await client.call_tool("wait_cancel", {"mark": "cancel-me-17", "seconds": 20})
        assert scope.cancelled_caught, "the call should still have been running when cancelled"
        marks: list[str] = []
        for _ in range(50):  # the notification may land just after our next request
            result = await client.call_tool("cancelled", {})
            marks = (result.structured_content or {}).get("result", [])
            if "cancel-me-17" in marks:
                break
            await anyio.sleep(0.05)
        assert "cancel-me-17" in marks, "notifications/cancelled did not reach the upstream"
        assert text_of(await client.call_tool("echo", {"text": "still here"})) == "still here"


async def test_input_required_result_round_trip_in_the_modern_era(tmp_path: Path) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode=MODERN_VERSION, **CALLBACKS) as client:
        result = await client.call_tool("ask_input", {"question": "which colour?"})
    assert text_of(result) == "state=round-1 action=accept answer=yes to which colour?"


async def test_upstream_tool_errors_pass_unchanged(tmp_path: Path) -> None:
    async with sdk_client(through_gateway(tmp_path), tmp_path, mode="legacy") as client:
        result = await client.call_tool("add", {"a": "not a number", "b": 1})
        assert result.is_error, "the upstream's own validation error must reach the client as a tool error"
        assert text_of(await client.call_tool("echo", {"text": "after error"})) == "after error"


async def test_a_request_over_the_limit_fails_in_the_sdk_client_instead_of_hanging(tmp_path: Path) -> None:
    """The official client matches answers by id: the gateway's -31005 carries the request's
    id, so the call fails at once (the SDK waits forever by default for an unanswered id)."""
    args = through_gateway(tmp_path, gateway={"max_message_bytes": 64 * 1024})
    async with sdk_client(args, tmp_path, mode="legacy") as client:
        with anyio.fail_after(10):
            with pytest.raises(MCPError) as info:
                await client.call_tool("echo", {"text": "x" * 100_000})
        assert info.value.code == codes.MESSAGE_TOO_LARGE
        assert text_of(await client.call_tool("echo", {"text": "after"})) == "after"
