"""Faithfulness: every field survives the gateway, unknown ones and ``_meta`` included, in both
directions and both eras; unknown methods and notifications pass through to the upstream.

The fixture's ``raw_params`` tool returns the exact line it read for its own request, and
``received(marker)`` every line it read that holds a marker, so these tests see the bytes the
upstream got."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from .conftest import (
    MODERN_VERSION,
    RawGateway,
    bad_command,
    fixture_module,
    gateway_args,
    gateway_env,
    raw_gateway,
    text_content,
    write_policy,
)

# Hand-written so a gateway that re-encodes the message would change it: a \u escape, number
# spellings orjson would normalise, unknown keys at three levels, and _meta.
PARAMS_BYTES = (
    b'{"name":"raw_params","arguments":{},"_meta":{"progressToken":"tok-\\u00e9-1",'
    b'"vendor.example/trace":{"span":"s-42","weights":[1.50,2e3,-0.0,null,true]}},'
    b'"x-unknown-top":{"nested":{"deeper":["caf\\u00e9",12345678901234567890]}}}'
)


def start(tmp_path: Path, **policy: Any) -> Any:
    return raw_gateway(gateway_args(write_policy(tmp_path, **policy), server="fx"), gateway_env(tmp_path))



def received(gw: RawGateway, marker: str) -> list[dict[str, Any]]:
    response = gw.call_tool("received", {"marker": marker})
    return [orjson.loads(line) for line in response["result"]["structuredContent"]["result"]]


def poll_received(gw: RawGateway, marker: str, want: int = 1, tries: int = 40) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for _ in range(tries):  # a notification has no answer: poll until it shows up upstream
        found = received(gw, marker)
        if len(found) >= want:
            break
    return found


def call_raw_params(gw: RawGateway, params_bytes: bytes) -> tuple[bytes, dict[str, Any]]:
    msg_id = gw.new_id()
    head = b'{"jsonrpc":"2.0","id":' + str(msg_id).encode() + b',"method":"tools/call","params":'
    gw.send(head + params_bytes + b"}\n")
    line = text_content(gw.response_to(msg_id)).encode()
    return line, orjson.loads(line)


def test_request_params_reach_the_upstream_unchanged_handshake_era(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        line, seen = call_raw_params(gw, PARAMS_BYTES)
        assert seen["params"] == orjson.loads(PARAMS_BYTES), "a field was lost or changed on the way upstream"
        assert list(seen["params"]) == list(orjson.loads(PARAMS_BYTES)), "key order changed"
        assert PARAMS_BYTES in line, "the params were re-encoded: the upstream must get the client's bytes"


def test_request_params_reach_the_upstream_unchanged_modern_era(tmp_path: Path) -> None:
    meta = (
        b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        b'"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},'
        b'"io.modelcontextprotocol/clientCapabilities":{},"vendor.example/x":[1.50]}'
    )
    params = b'{"name":"raw_params","arguments":{},"_meta":' + meta + b',"x-unknown":"\\u00e9"}'
    with start(tmp_path) as gw:
        discover = gw.request("server/discover", {"_meta": orjson.loads(meta)})
        assert MODERN_VERSION in discover["result"]["supportedVersions"]
        line, seen = call_raw_params(gw, params)
        assert seen["params"] == orjson.loads(params)
        assert params in line


def test_unknown_fields_from_the_upstream_reach_the_client_unchanged(tmp_path: Path) -> None:
    extras_result = fixture_module("bad_server").EXTRAS_RESULT
    args = gateway_args(write_policy(tmp_path, command=bad_command()), server="fx")
    with raw_gateway(args, gateway_env(tmp_path)) as gw:
        gw.initialize()
        msg_id = gw.new_id()
        gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": {"name": "extras"}})
        line = gw.read_line()
        assert extras_result in line, f"the upstream's result was changed on the way: {line[:400]!r}"
        assert orjson.loads(line)["id"] == msg_id


def test_unknown_request_method_passes_through_and_gets_an_answer(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        response = gw.request("vendor.example/custom", {"marker": "mk-unknown-method-1", "x": [1, 2]})
        assert "error" in response, "the fixture does not know this method; its error must come back"
        assert response["error"]["code"] == -32601
        arrived = received(gw, "mk-unknown-method-1")
        assert [m.get("method") for m in arrived] == ["vendor.example/custom"]
        assert arrived[0]["params"] == {"marker": "mk-unknown-method-1", "x": [1, 2]}
        assert text_content(gw.call_tool("echo", {"text": "next"})) == "next"


def test_unknown_notification_passes_through(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        params = {"marker": "mk-notify-2", "_meta": {"vendor.example/k": {"v": 1}}, "extra": None}
        gw.notify("notifications/vendor.example/event", params)
        arrived = poll_received(gw, "mk-notify-2")
        assert len(arrived) == 1
        assert arrived[0] == {"jsonrpc": "2.0", "method": "notifications/vendor.example/event", "params": params}


def test_client_answers_to_server_requests_keep_every_field(tmp_path: Path) -> None:
    """A sampling request from the upstream reaches the raw client; the client's answer, with
    unknown fields and _meta, reaches the upstream unchanged and the tool call completes."""
    with start(tmp_path) as gw:
        response = gw.request(
            "initialize",
            {
                "protocolVersion": "2025-11-25",
                "capabilities": {"sampling": {}},
                "clientInfo": {"name": "raw-test-client", "version": "0"},
            },
            timeout=20,
        )
        assert "result" in response
        gw.notify("notifications/initialized")
        call_id = gw.new_id()
        gw.send_json({"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                      "params": {"name": "sample", "arguments": {"prompt": "hello"}}})
        server_request = gw.read_message()
        assert server_request.get("method") == "sampling/createMessage", server_request
        assert server_request["params"]["messages"][0]["content"]["text"] == "hello"
        answer = (
            b'{"jsonrpc":"2.0","id":' + orjson.dumps(server_request["id"]) + b',"result":{"role":"assistant",'
            b'"content":{"type":"text","text":"mk-answer-3"},"model":"m-1","x-client-extra":{"a":1.50},'
            b'"_meta":{"vendor.example/answer":true}}}\n'
        )
        gw.send(answer)
        done = gw.response_to(call_id)
        assert text_content(done) == "model=m-1 text=mk-answer-3"
        arrived = received(gw, "mk-answer-3")
        assert len(arrived) == 1
        assert arrived[0]["result"] == orjson.loads(answer)["result"]


def test_ids_of_every_shape_come_back_unchanged(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        assert gw.request("ping")["result"] == {}
        for msg_id in ("abc-é-1", 0, -7, 2**53 + 1, "", "1001"):
            gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": f"id {msg_id!r}"}}})
            response = gw.response_to(msg_id)
            assert text_content(response) == f"id {msg_id!r}"


def test_client_and_server_request_ids_do_not_collide(tmp_path: Path) -> None:
    """While the upstream's sampling request (id S) is pending, the client sends its own request
    with the same id S: each answer must reach the right side."""
    with start(tmp_path) as gw:
        response = gw.request(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {"sampling": {}},
             "clientInfo": {"name": "raw-test-client", "version": "0"}},
            timeout=20,
        )
        assert "result" in response
        gw.notify("notifications/initialized")
        call_id = gw.new_id()
        gw.send_json({"jsonrpc": "2.0", "id": call_id, "method": "tools/call",
                      "params": {"name": "sample", "arguments": {"prompt": "collide"}}})
        server_request = gw.read_message()
        assert server_request.get("method") == "sampling/createMessage", server_request
        same_id = server_request["id"]
        gw.send_json({"jsonrpc": "2.0", "id": same_id, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "my own request"}}})
        assert text_content(gw.response_to(same_id)) == "my own request"
        gw.send_json({"jsonrpc": "2.0", "id": same_id, "result": {
            "role": "assistant", "content": {"type": "text", "text": "sampled"}, "model": "m-2"}})
        assert text_content(gw.response_to(call_id)) == "model=m-2 text=sampled"


def test_client_response_to_an_unknown_id_is_dropped(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        gw.send_json({"jsonrpc": "2.0", "id": "never-asked-1", "result": {"marker": "mk-stray-response-8"}})
        line = gw.no_line_within(0.3)
        if line is not None:  # an error is acceptable; anything else is not
            msg = orjson.loads(line)
            assert "error" in msg and msg.get("id") in (None, "never-asked-1"), msg
        assert received(gw, "mk-stray-response-8") == [], "a response nobody asked for must not reach the upstream"
        assert text_content(gw.call_tool("echo", {"text": "fine"})) == "fine"


def test_progress_tokens_come_back_unchanged(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        for token in ("tok-é-⚙", 987654321):
            msg_id = gw.new_id()
            gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                          "params": {"name": "slow", "arguments": {"seconds": 0.1, "steps": 2},
                                     "_meta": {"progressToken": token}}})
            assert text_content(gw.response_to(msg_id)) == "slept 0.1"
            progress = [n["params"] for n in gw.notifications if n.get("method") == "notifications/progress"]
            gw.notifications.clear()
            assert [(p["progressToken"], p["progress"], p.get("total")) for p in progress] == [
                (token, 1, 2), (token, 2, 2)]
