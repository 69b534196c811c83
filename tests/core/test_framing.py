import pytest

from mcpwarden.wire.framing import LineSplitter, Oversize


def feed_all(splitter, chunks):
    out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out


def test_lines_split_across_chunks():
    s = LineSplitter(100)
    assert feed_all(s, [b'{"a"', b":1}\n{", b'"b":2}\n']) == [b'{"a":1}', b'{"b":2}']


def test_blank_lines_and_crlf_whitespace_are_ignored():
    s = LineSplitter(100)
    assert s.feed(b"\n  \n{}\r\n") == [b"{}\r"]


@pytest.mark.parametrize("chunk_size", [1, 3, 7, 64, 10_000])
def test_oversize_line_is_dropped_and_reported_once_then_framing_recovers(chunk_size):
    s = LineSplitter(10)
    data = b"ok\n" + b"x" * 25 + b"\nafter\n"
    chunks = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)]
    assert feed_all(s, chunks) == [b"ok", Oversize(25), b"after"]


def test_memory_stays_bounded_while_dropping():
    s = LineSplitter(1000)
    for _ in range(100):
        s.feed(b"y" * 100_000)
    assert s.buffered == 0
    assert s.pending == 10_000_000
    assert s.feed(b"\n{}\n") == [Oversize(10_000_000), b"{}"]


def test_line_exactly_at_limit_passes():
    s = LineSplitter(5)
    assert s.feed(b"12345\n123456\n") == [b"12345", Oversize(6)]


def test_a_line_gathered_from_chunks_is_not_changed_by_later_input():
    s = LineSplitter(1 << 20)
    first = feed_all(s, [b'{"a":', b"1}\n{", b'"b"'])
    second = feed_all(s, [b":2}", b"\n"])
    assert first == [b'{"a":1}'] and second == [b'{"b":2}']
    assert first[0] == b'{"a":1}'
    assert s.buffered == 0 and s.pending == 0


def test_whitespace_only_line_across_chunks_is_ignored():
    s = LineSplitter(100)
    assert feed_all(s, [b"  ", b" \t\n{}\n"]) == [b"{}"]


def test_lines_fed_from_a_reused_buffer_are_copies() -> None:
    """A reader hands over its own buffer (an mmap it reads into again): what the splitter
    returns or keeps must not change when that buffer is overwritten."""
    import mmap

    buf = mmap.mmap(-1, 64)
    splitter = LineSplitter(1000)
    chunk = b'{"a":1}\n{"b":'
    buf[: len(chunk)] = chunk
    lines = splitter.feed(buf, len(chunk))
    buf[:64] = b"x" * 64
    rest = b"2}\n"
    buf[: len(rest)] = rest
    lines += splitter.feed(buf, len(rest))
    buf[:64] = b"y" * 64
    assert [bytes(line) for line in lines] == [b'{"a":1}', b'{"b":2}']


def test_feed_reads_only_up_to_end() -> None:
    splitter = LineSplitter(1000)
    assert splitter.feed(b'{"a":1}\n{"b":2}\n', 8) == [b'{"a":1}']
    assert splitter.pending == 0


@pytest.mark.parametrize("chunk_size", [1, 7, 100, 600, 10_000])
@pytest.mark.parametrize(
    ("line", "msg_id"),
    [
        (b'{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"x":"%s"}}', 42),
        (b'{"method":"tools/call","params":{"id":7,"x":"%s"},"jsonrpc":"2.0","id":"abc"}', "abc"),
        (b'{"result":{"x":"%s"},"jsonrpc":"2.0","id":-3}', -3),
        (b'{"params":{"x":"%s","id":9}}', None),  # an "id" that is not the message's own
        (b'{"id":[1],"x":"%s"}', None),
    ],
)
def test_an_oversize_line_keeps_its_edges_and_the_id_they_carry(chunk_size, line, msg_id):
    body = line % (b"a" * 5000)
    data = body + b"\n{}\n"
    s = LineSplitter(1000)
    out = feed_all(s, [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)])
    assert out == [Oversize(len(body)), b"{}"]
    assert out[0].head == body[:512] and out[0].tail == body[-512:]
    assert out[0].id == msg_id


def test_the_tail_of_a_line_that_crosses_the_limit_in_a_short_chunk_is_whole():
    """The id of an id-last message began in the held part when a short chunk pushed the
    line over the limit: the kept tail must still be the line's last bytes."""
    body = b'{"method":"tools/call","params":{"x":"' + b"a" * 940 + b'"},"jsonrpc":"2.0","id":"req-42"}'
    s = LineSplitter(1000)
    out = feed_all(s, [body[:995], body[995:], b"\n"])
    assert out == [Oversize(len(body))]
    assert out[0].tail == body[-512:] and out[0].id == "req-42"


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (b'{"jsonrpc":"2.0","id":7,"method":"ping","params":{"x":"%s"}}', "request"),
        (b'{"method":"ping","params":{"x":"%s"},"jsonrpc":"2.0","id":7}', "request"),
        (b'{"jsonrpc":"2.0","id":7,"result":{"x":"%s"}}', "response"),
        (b'{"result":{"x":"%s"},"jsonrpc":"2.0","id":7}', "response"),
        (b'{"jsonrpc":"2.0","id":"e","error":{"code":1,"message":"%s"}}', "response"),
        (b'{"params":{"x":"%s"},"method":"ping","id":7}', None),
    ],
)
def test_an_oversize_line_says_whether_it_was_a_request_or_a_response(line, kind):
    body = line % (b"z" * 3000)
    [dropped] = LineSplitter(1000).feed(body + b"\n")
    assert isinstance(dropped, Oversize) and dropped.kind == kind
