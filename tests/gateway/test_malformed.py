"""Malformed input from either side gets a clear error (client side) or is dropped and logged
(upstream side), and the session keeps working afterwards. stdout carries only protocol
messages throughout (RawGateway.read_message fails on anything that is not a JSON object)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from mcpwarden.wire import codes

from .conftest import (
    RawGateway,
    bad_command,
    gateway_args,
    gateway_env,
    raw_gateway,
    text_content,
    write_policy,
)

HUNDRED_MB = 100 * 1000 * 1000


def start(tmp_path: Path, **policy: Any) -> Any:
    """The gateway in front of bad_server.py, which starts in milliseconds and behaves unless asked."""
    args = gateway_args(write_policy(tmp_path, command=bad_command(), **policy), server="fx")
    return raw_gateway(args, gateway_env(tmp_path))



def error_for(gw: RawGateway, data: bytes, timeout: float = 10.0) -> dict[str, Any]:
    """Send a broken line; the next message must be a JSON-RPC error response."""
    gw.send(data)
    msg = gw.read_message(timeout)
    assert "error" in msg and "result" not in msg, f"expected an error response, got {str(msg)[:300]}"
    assert msg.get("jsonrpc") == "2.0"
    assert isinstance(msg["error"].get("code"), int) and msg["error"].get("message")
    return msg


def still_works(gw: RawGateway, text: str = "still working") -> None:
    assert text_content(gw.call_tool("echo", {"text": text})) == text


def nothing_reached_upstream(gw: RawGateway, marker: str) -> None:
    response = gw.call_tool("received", {"marker": marker})
    assert response["result"]["structuredContent"]["result"] == [], f"a message with {marker} reached the upstream"


# ------------------------------------------------------------------ from the client


BROKEN_LINES: dict[str, tuple[bytes, int]] = {
    "truncated-json": (b'{"jsonrpc":"2.0","id":1,"method":"tools/call",\n', codes.PARSE_ERROR),
    "not-json": (b"this is not json at all\n", codes.PARSE_ERROR),
    "invalid-utf8": (
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"\xff\xfe"}}}\n',
        codes.PARSE_ERROR,
    ),
    "number": (b"42\n", codes.INVALID_REQUEST),
    "string": (b'"a string"\n', codes.INVALID_REQUEST),
    "null": (b"null\n", codes.INVALID_REQUEST),
    "response-without-id": (b'{"jsonrpc":"2.0","result":{}}\n', codes.INVALID_REQUEST),
    "empty-object": (b"{}\n", codes.INVALID_REQUEST),
    "null-id": (b'{"jsonrpc":"2.0","id":null,"method":"ping"}\n', codes.INVALID_REQUEST),
    "float-id": (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}\n', codes.INVALID_REQUEST),
    "bool-id": (b'{"jsonrpc":"2.0","id":true,"method":"ping"}\n', codes.INVALID_REQUEST),
    "deep-nesting": (
        b'{"jsonrpc":"2.0","id":9,"method":"ping","params":' + b'{"a":' * 5000 + b"1" + b"}" * 5001 + b"\n",
        codes.PARSE_ERROR,
    ),
}


IDS_READ_FROM_THE_LINE = {"truncated-json": 1, "invalid-utf8": 2, "deep-nesting": 9}
"""Lines that are not JSON but show their id where JSON-RPC libraries write it: the error
carries it, or an SDK client would wait forever (as for an oversized line)."""


def test_broken_client_lines_get_errors_and_the_session_survives(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        for name, (data, code) in BROKEN_LINES.items():
            msg = error_for(gw, data)
            assert msg["id"] == IDS_READ_FROM_THE_LINE.get(name), name
            assert msg["error"]["code"] == code, f"{name}: {msg['error']}"
            still_works(gw, f"after {name}")
        assert gw.proc.poll() is None


def test_batch_is_refused_and_none_of_it_runs(tmp_path: Path) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 11, "method": "tools/call",
         "params": {"name": "write_note", "arguments": {"text": "mk-batch-4"}}},
        {"jsonrpc": "2.0", "method": "notifications/vendor.example/event", "params": {"m": "mk-batch-4"}},
    ]
    with start(tmp_path) as gw:
        gw.initialize()
        msg = error_for(gw, orjson.dumps(batch) + b"\n")
        assert msg["id"] is None
        assert msg["error"]["code"] == codes.INVALID_REQUEST
        assert "batch" in msg["error"]["message"].lower()
        assert gw.no_line_within(0.3) is None, "exactly one error for the batch"
        nothing_reached_upstream(gw, "mk-batch-4")
        still_works(gw)


def test_known_id_is_kept_in_the_error(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        msg = error_for(gw, b'{"jsonrpc":"2.0","id":77,"method":5}\n')
        assert msg["id"] == 77
        assert msg["error"]["code"] == codes.INVALID_REQUEST
        still_works(gw)


def test_hundred_megabyte_line_is_refused_and_the_session_survives(tmp_path: Path) -> None:
    line = b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'
    line += b"a" * (HUNDRED_MB - len(line) - 5) + b'"}}}\n'
    with start(tmp_path) as gw:
        gw.initialize()
        started = time.monotonic()
        msg = error_for(gw, line, timeout=60)
        assert msg["error"]["code"] == codes.MESSAGE_TOO_LARGE
        assert msg["id"] == 5
        assert time.monotonic() - started < 30
        still_works(gw)
        assert gw.proc.poll() is None


def test_message_over_the_policy_limit_is_refused(tmp_path: Path) -> None:
    with start(tmp_path, gateway={"max_message_bytes": 4096}) as gw:
        gw.initialize()
        msg_id = gw.new_id()
        gw.send_json({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                      "params": {"name": "echo", "arguments": {"text": "b" * 8000}}})
        msg = gw.read_message()
        assert "error" in msg and msg["error"]["code"] == codes.MESSAGE_TOO_LARGE
        assert msg["id"] == msg_id, "the refusal must answer the request, or an SDK client waits forever"
        # The TypeScript SDK writes the id last: it is found at the line's end.
        gw.send(b'{"method":"tools/call","params":{"name":"echo","arguments":{"text":"' + b"c" * 8000
                + b'"}},"jsonrpc":"2.0","id":"ts-9"}\n')
        msg = gw.read_message()
        assert msg["id"] == "ts-9" and msg["error"]["code"] == codes.MESSAGE_TOO_LARGE
        still_works(gw)


def test_line_split_across_writes_and_lines_sharing_a_write(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        whole = orjson.dumps({"jsonrpc": "2.0", "id": 31, "method": "tools/call",
                              "params": {"name": "echo", "arguments": {"text": "split ✓"}}}) + b"\n"
        cut = whole.index("✓".encode()) + 1  # inside the multi-byte character
        for part in (whole[:10], whole[10:cut], whole[cut:]):
            gw.send(part)
            time.sleep(0.1)
        assert text_content(gw.response_to(31)) == "split ✓"
        two = b"".join(
            orjson.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                          "params": {"name": "echo", "arguments": {"text": f"t{i}"}}}) + b"\n"
            for i in (41, 42)
        )
        gw.send(two)
        got = {}
        for _ in range(2):
            msg = gw.read_message()
            got[msg["id"]] = text_content(msg)
        assert got == {41: "t41", 42: "t42"}


def test_blank_lines_are_ignored(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        gw.send(b"\n\r\n")
        still_works(gw)


# ------------------------------------------------------------------ from the upstream


def bad_gateway(tmp_path: Path, *extra: str, **policy: Any) -> Any:
    args = gateway_args(write_policy(tmp_path, command=bad_command(*extra), **policy), server="fx")
    return raw_gateway(args, gateway_env(tmp_path))


def test_upstream_garbage_is_dropped_and_logged(tmp_path: Path) -> None:
    with bad_gateway(tmp_path) as gw:
        gw.initialize()
        assert gw.wait_stderr("bad_server started")
        for kind in ("invalid_json", "invalid_utf8", "stray", "unknown_id", "batch", "all"):
            before = len(gw.stderr)
            response = gw.call_tool("misbehave", {"kind": kind})
            assert text_content(response) == f"survived {kind}"
            assert gw.notifications == [], f"garbage reached the client: {gw.notifications}"
            assert gw.no_line_within(0.2) is None, "nothing more may reach the client"
            assert text_content(gw.call_tool("echo", {"text": "after"})) == "after"
            deadline = time.monotonic() + 3
            while len(gw.stderr) == before and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(gw.stderr) > before, f"the dropped upstream output ({kind}) must be logged to stderr"


def test_hundred_megabyte_upstream_line_is_dropped(tmp_path: Path) -> None:
    with bad_gateway(tmp_path) as gw:
        gw.initialize()
        response = gw.call_tool("misbehave", {"kind": "huge", "size": HUNDRED_MB}, timeout=60)
        assert text_content(response) == "survived huge"
        assert text_content(gw.call_tool("echo", {"text": "after huge"})) == "after huge"


def test_upstream_garbage_before_the_handshake(tmp_path: Path) -> None:
    with bad_gateway(tmp_path, "--garbage-at-start") as gw:
        result = gw.initialize()
        assert result["serverInfo"]["name"] == "bad-server"
        assert text_content(gw.call_tool("echo", {"text": "ok"})) == "ok"


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most resident memory the process has ever had."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc to read peak memory")
def test_oversized_lines_are_discarded_without_buffering_them(tmp_path: Path) -> None:
    """With a 1 MiB limit, 100 MB lines from either side must not raise the gateway's peak memory
    by anything near 100 MB: the line is dropped while it streams."""
    limit = 1024 * 1024
    with start(tmp_path, gateway={"max_message_bytes": limit}) as gw:
        gw.initialize()
        still_works(gw)
        before = peak_rss_mb(gw.pid)
        line = b'{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"text":"'
        line += b"a" * (HUNDRED_MB - len(line) - 5) + b'"}}}\n'
        msg = error_for(gw, line, timeout=60)
        assert msg["error"]["code"] == codes.MESSAGE_TOO_LARGE
        del line
        response = gw.call_tool("misbehave", {"kind": "huge", "size": HUNDRED_MB}, timeout=60)
        assert text_content(response) == "survived huge"
        still_works(gw)
        grown = peak_rss_mb(gw.pid) - before
        assert grown < 32, f"peak memory grew by {grown:.0f} MB for lines refused at {limit} bytes"


def test_an_oversized_server_request_is_refused_to_the_server_not_to_a_client_request_with_its_id(
    tmp_path: Path,
) -> None:
    """Client and server number their requests independently. The server's oversized request
    with id 7 is refused to the server; the client's own pending request 7 is not touched."""
    policy = write_policy(tmp_path, command=bad_command(), gateway={"max_message_bytes": 100_000})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.send_json({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                      "params": {"name": "big_request", "arguments": {"id": 7, "size": 200_000}}})
        answer = gw.read_message()
        assert answer["id"] == 7 and answer["result"]["content"][0]["text"] == "sent"
        seen = gw.call_tool("received", {"marker": "-31005"})["result"]["structuredContent"]["result"]
    assert len(seen) == 1 and orjson.loads(seen[0])["id"] == 7


def test_an_oversized_answer_from_the_client_is_refused_to_the_server(tmp_path: Path) -> None:
    """The client answers a server request with a message over the limit: the server, which
    waits for that answer, gets -31005; the client gets nothing under the server's id."""
    policy = write_policy(tmp_path, command=bad_command(), gateway={"max_message_bytes": 100_000})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.let_server_ask()
        gw.send(b'{"jsonrpc":"2.0","id":"dup-ping","result":{"pad":"' + b"q" * 200_000 + b'"}}\n')
        assert gw.no_line_within(0.5) is None, "the client got an answer to the server's request"
        seen = gw.call_tool("received", {"marker": "dup-ping"})["result"]["structuredContent"]["result"]
    refusals = [orjson.loads(line) for line in seen if "-31005" in line]
    assert [r["id"] for r in refusals] == ["dup-ping"]


def test_an_answer_from_the_client_with_neither_result_nor_error_fails_the_servers_request(tmp_path: Path) -> None:
    with raw_gateway(gateway_args(write_policy(tmp_path, command=bad_command()), server="fx"),
                     gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.let_server_ask()
        gw.send(b'{"jsonrpc":"2.0","id":"dup-ping"}\n')
        assert gw.no_line_within(0.5) is None, "the client got an answer to the server's request"
        seen = gw.call_tool("received", {"marker": "dup-ping"})["result"]["structuredContent"]["result"]
    refusals = [orjson.loads(line) for line in seen if "neither a result nor an error" in line]
    assert [(r["id"], r["error"]["code"]) for r in refusals] == [("dup-ping", codes.INVALID_REQUEST)]


LINE_SERVER = r"""
import json, sys
for line in sys.stdin.buffer:
    m = json.loads(line)
    if "id" not in m:
        continue
    out = None
    if m.get("method") == "initialize":
        info = {"name": "lines", "version": "0"}
        out = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}}, "serverInfo": info}
    elif m.get("method") == "tools/call":
        name, mid = m["params"]["name"], json.dumps(m["id"])
        if name == "surrogate":  # what JavaScript writes for a string cut inside an emoji
            sys.stdout.buffer.write(b'{"jsonrpc":"2.0","id":' + mid.encode() + b',"result":{"content":'
                                    b'[{"type":"text","text":"cut \\ud83d"}]}}\n')
        elif name == "garbage":  # not UTF-8, id first as the SDKs write it
            sys.stdout.buffer.write(b'{"jsonrpc":"2.0","id":' + mid.encode() + b',"result":{"x":"\xff\xfe"}}\n')
        elif name == "bare":  # an id, but neither a result nor an error
            sys.stdout.buffer.write(b'{"jsonrpc":"2.0","id":' + mid.encode() + b'}\n')
        elif name == "both":  # a result and an error (whose message a client may show)
            sys.stdout.buffer.write(b'{"jsonrpc":"2.0","id":' + mid.encode() + b',"result":{"content":[]},'
                                    b'"error":{"code":1,"message":"ghp_' + b"A1b2" * 9 + b'"}}\n')
        elif name == "echo_args":
            out = {"content": [{"type": "text", "text": json.dumps(m["params"]["arguments"])}]}
        sys.stdout.buffer.flush()
    if out is not None:
        sys.stdout.buffer.write(json.dumps({"jsonrpc": "2.0", "id": m["id"], "result": out}).encode() + b"\n")
        sys.stdout.buffer.flush()
"""


def start_lines(tmp_path: Path) -> Any:
    script = tmp_path / "line_server.py"
    script.write_text(LINE_SERVER)
    args = gateway_args(write_policy(tmp_path, command=[sys.executable, str(script)]), server="fx")
    return raw_gateway(args, gateway_env(tmp_path))


def test_a_lone_surrogate_escape_is_valid_json_and_relayed(tmp_path: Path) -> None:
    """RFC 8259 allows "\\ud83d"; orjson does not. Such an answer (and such a request) must be
    relayed unchanged, not dropped and left to the request timeout."""
    with start_lines(tmp_path) as gw:
        gw.initialize()
        started = time.monotonic()
        gw.send(b'{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"surrogate"}}\n')
        line = gw.read_line(timeout=10)
        assert time.monotonic() - started < 5
        assert b'"text":"cut \\ud83d"' in line and b'"id":7' in line
        gw.send(b'{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo_args",'
                b'"arguments":{"t":"a\\udc00b"}}}\n')
        assert "result" in gw.response_to(8)


def test_an_answer_that_is_not_json_fails_its_request_at_once(tmp_path: Path) -> None:
    with start_lines(tmp_path) as gw:
        gw.initialize()
        started = time.monotonic()
        gw.send(b'{"jsonrpc":"2.0","id":"g-1","method":"tools/call","params":{"name":"garbage"}}\n')
        answer = gw.response_to("g-1", timeout=10)
        assert answer["error"]["code"] == codes.UPSTREAM_INVALID
        assert time.monotonic() - started < 5, "left to the request timeout"


@pytest.mark.parametrize(("tool", "what"), [("bare", "neither a result nor an error"),
                                           ("both", "both a result and an error")])
def test_an_answer_with_neither_or_both_result_and_error_fails_its_request(tmp_path: Path, tool: str,
                                                                             what: str) -> None:
    """JSON-RPC: a response holds a result or an error. Neither left the client waiting for the
    request timeout; both went on, with whatever the error's message held."""
    with start_lines(tmp_path) as gw:
        gw.initialize()
        started = time.monotonic()
        gw.send(b'{"jsonrpc":"2.0","id":"b-1","method":"tools/call","params":{"name":"%s"}}\n' % tool.encode())
        answer = gw.response_to("b-1", timeout=10)
        assert answer["error"]["code"] == codes.UPSTREAM_INVALID, answer
        assert what in answer["error"]["message"] and "ghp_" not in orjson.dumps(answer).decode()
        assert time.monotonic() - started < 5, "left to the request timeout"
        assert "result" in gw.call_tool("echo_args", {"t": "still serving"})  # the session goes on


def test_a_request_that_is_not_json_is_answered_with_its_id(tmp_path: Path) -> None:
    """An SDK client waits forever for an answer to id null: the id is read from the line."""
    with start(tmp_path) as gw:
        gw.initialize()
        msg = error_for(gw, b'{"jsonrpc":"2.0","id":41,"method":"tools/call","params":{"name":"\xff"}}\n')
        assert msg["id"] == 41 and msg["error"]["code"] == codes.PARSE_ERROR
        assert "result" in gw.request("ping")


def test_an_integer_id_beyond_64_bits_is_an_integer(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        gw.send(b'{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}\n')
        line = gw.read_line(timeout=10)
        assert b'"id":18446744073709551616' in line and b'"result"' in line, line
