"""Streaming of large server responses (``gateway.stream_results``): the client reads a large
result while the gateway still receives it, nothing sent early is part of what detection
blocks or redacts, and a response that goes wrong after its start reaches the client cut
short (unparseable), followed by the error. Real gateway, plain JSON-RPC fixture server
(tests/fixtures/stream_server.py) so the test decides how its output arrives."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mcpwarden.detect.honeytoken import mint
from mcpwarden.wire import codes

from .conftest import FIXTURES, PYTHON, descendants, gateway_args, gateway_env, kill_leftovers, write_policy

STREAM_SERVER = str(FIXTURES / "stream_server.py")


class StreamClient:
    """The gateway over its pipes, with stdout gathered as raw bytes (partial lines included)."""

    def __init__(self, tmp_path: Path, **gateway: Any):
        policy = write_policy(tmp_path, command=[PYTHON, STREAM_SERVER], gateway=gateway)
        self.proc = subprocess.Popen(
            [PYTHON, *gateway_args(policy, server="fx")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=gateway_env(tmp_path),
            start_new_session=True,
        )
        self.out = bytearray()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 1 << 20):
            with self._lock:
                self.out += chunk

    def size(self) -> int:
        with self._lock:
            return len(self.out)

    def wait(self, predicate: Any, timeout: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(bytes(self.out)):
                    return True
            time.sleep(0.005)
        return False

    def send(self, method: str, params: dict[str, Any]) -> int:
        self._next_id += 1
        assert self.proc.stdin is not None
        line = {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params}
        self.proc.stdin.write(orjson.dumps(line) + b"\n")
        self.proc.stdin.flush()
        return self._next_id

    def lines_after(self, start: int) -> list[bytes]:
        with self._lock:
            return bytes(self.out[start:]).split(b"\n")[:-1]

    def answer(self, msg_id: int, start: int, timeout: float = 15.0) -> tuple[dict[str, Any], list[bytes]]:
        """The parsed answer to ``msg_id`` among the whole lines written since ``start``, and
        the lines before it that are not JSON (cut-short streamed responses)."""
        found: dict[str, Any] = {}

        def arrived(out: bytes) -> bool:
            for line in out[start:].split(b"\n")[:-1]:
                with contextlib.suppress(orjson.JSONDecodeError):
                    obj = orjson.loads(line)
                    if isinstance(obj, dict) and obj.get("id") == msg_id:
                        found.update(obj)
                        return True
            return False

        assert self.wait(arrived, timeout), f"no answer to {msg_id} within {timeout}s"
        broken = []
        for line in self.lines_after(start):
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError:
                broken.append(line)
                continue
            if isinstance(obj, dict) and obj.get("id") == msg_id:
                break
        return found, broken

    def initialize(self) -> None:
        msg_id = self.send(
            "initialize",
            {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        )
        self.answer(msg_id, 0)
        assert self.proc.stdin is not None
        self.proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.proc.stdin.flush()

    def call(self, tool: str, **arguments: Any) -> int:
        return self.send("tools/call", {"name": tool, "arguments": arguments})


@contextlib.contextmanager
def stream_client(tmp_path: Path, **gateway: Any) -> Iterator[StreamClient]:
    client = StreamClient(tmp_path, **gateway)
    try:
        client.initialize()
        yield client
    finally:
        seen = descendants(client.proc.pid)
        with contextlib.suppress(OSError):
            client.proc.stdin.close()  # type: ignore[union-attr]
        try:
            client.proc.wait(10)
        except subprocess.TimeoutExpired:
            client.proc.kill()
            client.proc.wait(10)
        kill_leftovers(seen)


def text_of(answer: dict[str, Any]) -> str:
    return answer["result"]["content"][0]["text"]


@pytest.mark.parametrize("order", ["id-first", "result-first"])
def test_a_large_result_reaches_the_client_while_the_server_still_writes_it(tmp_path: Path, order: str) -> None:
    marker = tmp_path / "go"
    with stream_client(tmp_path) as client:
        start = client.size()
        msg_id = client.call("halves", first=600_000, rest=100_000, marker=str(marker), order=order)
        early = client.wait(lambda out: len(out) - start >= 400_000, timeout=15)
        marker.touch()
        answer, broken = client.answer(msg_id, start)
    assert early, "the first 600 KB were held until the whole response had arrived"
    assert text_of(answer) == "." * 700_000 and not broken


def test_with_stream_results_off_a_response_is_held_whole(tmp_path: Path) -> None:
    marker = tmp_path / "go"
    with stream_client(tmp_path, stream_results=False) as client:
        start = client.size()
        msg_id = client.call("halves", first=600_000, rest=100_000, marker=str(marker))
        early = client.wait(lambda out: len(out) > start, timeout=1.0)
        marker.touch()
        answer, broken = client.answer(msg_id, start)
    assert not early, "stream_results: false sent part of a response before it was whole"
    assert text_of(answer) == "." * 700_000 and not broken


@pytest.mark.parametrize(("at", "order"), [(70_000, "id-first"), (300_000, "id-first"), (950_000, "id-first"),
                                         (300_000, "result-first")])
def test_a_secret_deep_in_a_streamed_result_never_leaves_whole_or_in_part(tmp_path: Path, at: int, order: str) -> None:
    secret = mint("github").value
    with stream_client(tmp_path) as client:
        start = client.size()
        msg_id = client.call("blob", size=1_000_000, reversed=secret[::-1], at=at, order=order)
        answer, broken = client.answer(msg_id, start)
        with client._lock:
            out = bytes(client.out[start:])
    text = text_of(answer)
    assert secret not in text and "[REDACTED:" in text and text.startswith("." * (at - 1))
    assert b"ghp_" not in out and secret[4:12].encode() not in out and secret[-8:].encode() not in out
    if at >= 300_000:  # far enough in: the response's start went out before the secret was reached
        assert len(broken) == 1 and len(broken[0]) >= 100_000, "the clean start was not streamed"
    for line in broken:
        assert b'"text":"' in line, f"a cut-short line that is not the response's start: {line[:200]!r}"
        assert line.endswith(b"\x00"), "a cut-short line ends in a byte no JSON text holds"
        assert set(line[line.index(b'"text":"') + 8 : -1]) <= {ord(".")}, "only checked filler went out early"


def test_a_streamed_response_larger_than_max_message_bytes_is_cut_short_and_answered(tmp_path: Path) -> None:
    with stream_client(tmp_path, max_message_bytes=400_000) as client:
        start = client.size()
        msg_id = client.call("blob", size=600_000)
        answer, broken = client.answer(msg_id, start)
        assert answer["error"]["code"] == codes.UPSTREAM_INVALID
        assert "max_message_bytes" in answer["error"]["message"]
        assert len(broken) == 1 and len(broken[0]) < 400_000 and broken[0].endswith(b"\x00")
        later = client.size()
        again = client.call("small")
        assert text_of(client.answer(again, later)[0]) == "ok"


def test_an_upstream_exit_in_the_middle_of_a_streamed_response(tmp_path: Path) -> None:
    with stream_client(tmp_path) as client:
        start = client.size()
        msg_id = client.call("die_midway", size=500_000)
        answer, broken = client.answer(msg_id, start)
        assert answer["error"]["code"] == codes.UPSTREAM_UNAVAILABLE
        assert len(broken) == 1
        later = client.size()
        again = client.call("small")  # the restarted server answers
        assert text_of(client.answer(again, later, timeout=30)[0]) == "ok"


def test_a_result_first_line_is_held_whole_while_a_listing_is_pending(tmp_path: Path) -> None:
    """With the id at the end, the line could answer any pending request; one of them is a
    tools/list (which the tools guard may filter), so nothing goes early."""
    marker = tmp_path / "go"
    with stream_client(tmp_path) as client:
        start = client.size()
        assert client.proc.stdin is not None
        halves = {"name": "halves", "arguments": {"first": 600_000, "rest": 1000, "marker": str(marker),
                                                    "order": "result-first"}}
        client.proc.stdin.write(
            orjson.dumps({"jsonrpc": "2.0", "id": 50, "method": "tools/call", "params": halves}) + b"\n"
            + orjson.dumps({"jsonrpc": "2.0", "id": 51, "method": "tools/list", "params": {}}) + b"\n"
        )
        client.proc.stdin.flush()
        early = client.wait(lambda out: len(out) > start, timeout=1.0)
        marker.touch()
        answer, broken = client.answer(50, start)
        client.answer(51, start)
    assert not early, "a result-first line was streamed while a tools/list was pending"
    assert text_of(answer) == "." * 601_000 and not broken


def test_a_whole_object_padded_with_whitespace_is_not_left_parseable_when_cut(tmp_path: Path) -> None:
    """A server that closes its result, then pads the line with spaces and garbage: the
    gateway rejects the line in the end, and what went out early must not read as an answer."""
    with stream_client(tmp_path) as client:
        start = client.size()
        msg_id = client.call("padded", size=100_000, pad=300_000)
        answer, broken = client.answer(msg_id, start)
        assert answer["error"]["code"] == codes.UPSTREAM_INVALID
        assert len(broken) == 1
        for text in (broken[0], broken[0].rstrip(b"\x00")):  # not even without its last byte
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(text)


@pytest.mark.parametrize("order", ["id-first", "result-first"])
def test_a_stalled_streamed_response_is_cut_short_when_its_request_times_out(tmp_path: Path, order: str) -> None:
    """The server stops in the middle of a streamed line: the request's timeout still reaches
    the client (the cut line first), instead of waiting behind the line."""
    with stream_client(tmp_path, request_timeout=1) as client:
        start = client.size()
        began = time.monotonic()
        msg_id = client.call("halves", first=300_000, rest=10, marker=str(tmp_path / "never"), order=order)
        answer, broken = client.answer(msg_id, start, timeout=10)
        waited = time.monotonic() - began
    assert answer["error"]["code"] == codes.UPSTREAM_TIMEOUT
    assert len(broken) == 1 and broken[0].endswith(b"\x00")
    assert waited < 8, f"the timeout took {waited:.1f} s to reach the client"


def test_a_result_the_audit_cannot_hash_still_gets_its_record_and_breaks_nothing(tmp_path: Path) -> None:
    from .conftest import audit_records, tool_records

    with stream_client(tmp_path) as client:
        start = client.size()
        deep = client.call("nested", depth=600)
        assert text_of(client.answer(deep, start)[0]) == "deep"
        later = client.size()
        after = client.call("small")
        assert text_of(client.answer(after, later)[0]) == "ok"
    nested = tool_records(audit_records(tmp_path, want=3), "nested")
    small = tool_records(audit_records(tmp_path, want=3), "small")
    assert len(nested) == 1 and nested[0]["result_sha256"] is None and nested[0]["outcome"] == "result"
    assert len(small) == 1 and small[0]["result_sha256"]


@pytest.mark.parametrize("order", ["id-first", "result-first"])
def test_cancelling_a_request_whose_answer_streams_cuts_the_line_and_frees_the_client_side(
    tmp_path: Path, order: str
) -> None:
    """The client cancels a request while its answer is being streamed and the server stalls:
    the line is cut short at once, and what the gateway says next (here an error of its own)
    does not wait behind the stalled line."""
    marker = tmp_path / "go"
    with stream_client(tmp_path) as client:
        start = client.size()
        msg_id = client.call("halves", first=300_000, rest=10, marker=str(marker), order=order)
        assert client.wait(lambda out: len(out) - start > 100_000), "nothing of the answer was streamed"
        assert client.proc.stdin is not None
        client.proc.stdin.write(
            orjson.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": msg_id}})
            + b"\n"
        )
        client.proc.stdin.flush()
        began = time.monotonic()
        # An id the gateway refuses on its own: the stalled server is not asked.
        client.proc.stdin.write(b'{"jsonrpc":"2.0","id":"mcpwarden-mine","method":"ping"}\n')
        client.proc.stdin.flush()
        assert client.wait(lambda out: b'"mcpwarden-mine"' in out, 5), "the gateway's own answer waited"
        waited = time.monotonic() - began
        broken = [line for line in client.lines_after(start) if line.endswith(b"\x00")]
        marker.touch()  # let the server finish; its late answer is dropped (cancelled)
        after = client.size()
        answer, _ = client.answer(client.call("small"), after)
    assert waited < 3, f"the gateway's own answer waited {waited:.1f} s behind the cancelled line"
    assert len(broken) == 1
    assert text_of(answer) == "ok"


def test_an_oversized_response_held_whole_answers_its_request_at_once(tmp_path: Path) -> None:
    """With streaming off, a response over max_message_bytes is dropped as it arrives and its
    request answered -31005 at once (its id is in the line's first bytes), not at the timeout."""
    with stream_client(tmp_path, stream_results=False, max_message_bytes=200_000) as client:
        start = client.size()
        began = time.monotonic()
        answer, broken = client.answer(client.call("blob", size=500_000), start, timeout=10)
        waited = time.monotonic() - began
        after = client.size()
        small, _ = client.answer(client.call("small"), after)
    assert answer["error"]["code"] == codes.MESSAGE_TOO_LARGE and "larger than" in answer["error"]["message"]
    assert broken == [] and waited < 5
    assert text_of(small) == "ok"
