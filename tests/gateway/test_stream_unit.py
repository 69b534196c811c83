"""``ResponseStream`` with the real detection guard, no processes: whatever a line's chunks,
the bytes it lets go early end before anything detection finds in the whole line, and the
bytes sent plus the rest are the line. Also which responses may stream at all, and the
writer that keeps other lines behind a streamed one."""

from __future__ import annotations

import asyncio
import os
import random

import orjson
import pytest

from mcpwarden.detect import Engine
from mcpwarden.detect.honeytoken import MINTERS
from mcpwarden.gateway.pipeline import Pipeline
from mcpwarden.gateway.stream import ResponseStream, envelope_id
from mcpwarden.guards.dlp import DlpGuard
from mcpwarden.guards.tools import ToolsGuard, ToolsOptions
from mcpwarden.testing import tcall, tpolicy
from mcpwarden.wire.stdio import FdWriter

HEAD = b'{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"'
TAIL = b'"}],"isError":false}}'
FILLERS = (b".", b" ", b"-", b"ab ")
"""Text around the secrets: dots and spaces join e-mail local parts and runs of tokens, so a
finding may begin well before what gave it away."""
EXTRAS = (
    "contact john.doe-{n}@example.com today",
    "password={n}Hunter2-staging-Secret",
    "postgres://admin:S3cr3t{n}pass@db.internal:5432/app",
    "aGVsbG8gd29ybGQgdGhpcyBpcyBhIGxvbmcgYmFzZTY0IHN0cmluZw=={n}",
    "pass%77ord={n}hunter22",
)


@pytest.fixture(scope="module")
def guard() -> DlpGuard:
    return DlpGuard(tpolicy().detection, "test", Engine.load())


def streamed(line: bytes, guard: DlpGuard, rng: random.Random, near: list[int] = ()) -> ResponseStream:  # type: ignore[assignment]
    """Feed ``line`` as the relay does (a growing bytearray, random chunk sizes, and chunk
    ends just before, inside and after each offset in ``near``) up to its end; return the stream."""
    stream = ResponseStream(tcall(), 7, guard.stream_margin, (guard.check_stream,))
    cuts = {pos + rng.randint(-80, 40) for pos in near for _ in range(3)}
    pos = 0
    while pos < len(line):
        cuts.add(pos)
        pos += rng.choice((1, 7, 4096, 65536, 65536, 200_000))
    gathered = bytearray()
    previous = 0
    for cut in [*sorted(c for c in cuts if 0 < c < len(line)), len(line)]:
        gathered += line[previous:cut]
        previous = cut
        stream.advance(gathered)
    return stream


@pytest.mark.parametrize("seed", range(24))
def test_nothing_sent_early_belongs_to_a_finding(guard: DlpGuard, seed: int) -> None:
    rng = random.Random(seed)
    filler = rng.choice(FILLERS)
    size = rng.choice((150_000, 400_000, 1_200_000))
    text = bytearray(filler * (size // len(filler)))
    planted = [MINTERS[rng.choice(("github", "aws", "stripe", "slack"))]()]  # always found
    planted += [rng.choice(EXTRAS).format(n=n) for n in range(rng.randint(0, 2))]
    near = []
    for secret in planted:
        at = rng.randrange(0, len(text) - len(secret))
        text[at : at + len(secret)] = secret.encode()
        near += [len(HEAD) + at + i for i in range(0, len(secret), 3)]
    line = HEAD + bytes(text) + TAIL
    stream = streamed(line, guard, rng, near)

    found = guard.engine.scan_json(orjson.loads(line)["result"])
    assert found, "the planted provider token should be found"
    first = min(f.start for f in found) + len(HEAD)  # ASCII text: characters are bytes
    assert stream.sent <= first, f"sent {stream.sent} bytes; a finding starts at byte {first}"


@pytest.mark.parametrize("seed", range(6))
def test_a_clean_line_goes_out_early_but_for_the_margin(guard: DlpGuard, seed: int) -> None:
    rng = random.Random(100 + seed)
    line = HEAD + rng.choice(FILLERS) * 500_000 + TAIL
    stream = ResponseStream(tcall(), 7, guard.stream_margin, (guard.check_stream,))
    gathered, sent = bytearray(), bytearray()
    for pos in range(0, len(line) - 1, 65536):
        gathered += line[pos : pos + 65536]
        sent += stream.advance(gathered) or b""
    assert not stream.frozen
    assert bytes(sent) == line[: stream.sent] and stream.sent >= len(line) - guard.stream_margin - 65536
    assert len(line) - stream.sent >= guard.stream_margin, "the margin (and the line's end) is held back"


def test_a_line_that_is_not_clean_from_the_start_sends_nothing(guard: DlpGuard) -> None:
    line = HEAD + b"token=" + MINTERS["github"]().encode() + b"." * 300_000 + TAIL
    stream = streamed(line, guard, random.Random(1))
    assert stream.sent == 0 and stream.frozen


def test_envelope_ids() -> None:
    assert envelope_id(b'{"jsonrpc":"2.0","id":12,"result":{') == 12
    assert envelope_id(b'{ "jsonrpc" : "2.0" , "id" : "a-1" , "result" : [') == "a-1"
    assert envelope_id(b'{"id":12,"jsonrpc":"2.0","result":{') is None  # other orders are held whole
    assert envelope_id(b'{"jsonrpc":"2.0","id":12,"error":{') is None
    assert envelope_id(b'{"jsonrpc":"2.0","id":"a\\"b","result":{') is None


def test_only_responses_every_response_guard_allows_may_stream(guard: DlpGuard) -> None:
    pipeline = Pipeline([ToolsGuard(ToolsOptions(), "test", "defaults.tools"), guard])
    plan = pipeline.stream_plan("tools/call")
    assert plan is not None and plan[0] == guard.stream_margin
    assert pipeline.stream_plan("tools/list") is None  # the tools guard may hide tools from a listing
    assert pipeline.stream_plan("resources/read") is not None


def test_lines_written_while_a_line_is_streamed_wait_for_its_end() -> None:
    async def scenario() -> bytes:
        read_fd, write_fd = os.pipe()
        writer = FdWriter(asyncio.get_running_loop(), write_fd, lambda exc: None)
        writer.write_partial(b'{"id":1,"result":"aa')
        writer.write_line(b'{"id":2,"error":{}}')  # e.g. a denial of another request
        writer.write_partial(b"bb")
        writer.end_partial(b'cc"}')
        writer.write_partial(b'{"id":3,"result":"x')
        writer.end_partial(b"")  # cut short
        writer.write_line(b'{"id":3,"error":{}}')
        await writer.drain()
        writer.close()
        os.close(write_fd)
        out = os.read(read_fd, 1 << 16)
        os.close(read_fd)
        return out

    out = asyncio.run(scenario())
    assert out.split(b"\n") == [
        b'{"id":1,"result":"aabbcc"}',
        b'{"id":2,"error":{}}',
        b'{"id":3,"result":"x\x00',
        b'{"id":3,"error":{}}',
        b"",
    ]


def test_the_closing_brace_of_a_whole_object_never_goes_early() -> None:
    stream = ResponseStream(tcall(), 7, 1, ())
    line = bytearray(b'{"jsonrpc":"2.0","id":7,"result":{}}' + b" " * 5000)
    sent = stream.advance(line) or b""
    assert sent == b'{"jsonrpc":"2.0","id":7,"result":{}'
    line += b" " * 5000
    assert stream.advance(line) is None
    line += b" garbage"
    assert (stream.advance(line) or b"").startswith(b"}")
