"""Streaming a large server response to the client while it arrives (``gateway.stream_results``).

A response of a megabyte takes the server a while to write and the client a while to read;
held whole, the gateway adds its own reading, parsing and checking in between. Streamed, the
client reads the first part while the gateway still receives and checks the rest. What may go
on early is decided per response (``Pipeline.stream_plan``): every guard that looks at that
method's responses must allow it, and each passes the bytes it needs to see
(``Guard.check_stream``). Behind the checked bytes the gateway holds back the guards' margin
(and always the line's last byte), so:

* nothing sent early can be part of what a guard blocks or redacts once it sees the whole
  response (for detection: a finding starts at most ``Engine.stream_margin`` before a byte
  the clean check objects to, and once one appears nothing more is sent early);
* a response that is blocked, rewritten or invalid in the end reaches the client cut short
  (an incomplete JSON line, which no parser accepts), followed by the error or the rewritten
  message.

Which request a line answers decides which guards must allow streaming it. A line that
begins ``{"jsonrpc":"2.0","id":ID,"result":`` (the Python SDK's order) names its request
first; one that begins with ``"result"`` (the TypeScript SDK writes ``{"result":...,
"jsonrpc":"2.0","id":ID}``) is streamed only when every request pending may be streamed, with
the checks and margin of all of them. Anything else is held whole, as every message was before.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from mcpwarden.gateway.session import Call

STREAM_AFTER = 64 * 1024
"""A response is streamed once this much of its line has arrived without its end."""

_ENVELOPE = re.compile(
    rb'\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?[0-9]{1,18}|"[^"\\\x00-\x1f]{0,256}")\s*,\s*"result"\s*:'
)
_RESULT_FIRST = re.compile(rb'\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"result"\s*:')
ENVELOPE_BYTES = 512
"""The envelope is looked for in this many first bytes of the line."""


def result_first(head: bytes) -> bool:
    """Whether a line starts as a result whose id comes after it."""
    return _RESULT_FIRST.match(head) is not None


def envelope_id(head: bytes) -> int | str | None:
    """The id of a response line that starts with the usual envelope, else None."""
    match = _ENVELOPE.match(head)
    if match is None:
        return None
    raw = match.group(1)
    if raw[:1] == b'"':
        return raw[1:-1].decode("utf-8", "strict") if raw.isascii() else None
    return int(raw)


class ResponseStream:
    """One response being streamed: how much of its line was checked and how much was sent."""

    __slots__ = ("call", "checked", "checks", "frozen", "id", "ids", "margin", "sent")

    def __init__(
        self,
        call: Call | None,
        msg_id: Any,
        margin: int,
        checks: tuple[Callable[[bytes], bool], ...],
        ids: frozenset[Any] = frozenset(),
    ):
        self.call = call
        """The request answered (None: not known before the line ends, see ``result_first``)."""
        self.id = msg_id
        self.ids = ids
        """When the id comes last: the requests pending when streaming began, one of which
        the line must answer (a later one was not allowed for)."""
        self.margin = max(1, margin)
        self.checks = checks
        self.checked = 0
        """Bytes of the line the checks have passed."""
        self.sent = 0
        """Bytes of the line sent to the client."""
        self.frozen = False
        """A check objected: nothing more goes early; the hooks judge the whole line."""

    def answers(self, msg_id: Any) -> bool:
        """Whether a response with ``msg_id`` is one this stream may end as."""
        return msg_id == self.id if self.id is not None else msg_id in self.ids

    def advance(self, line: bytearray) -> bytes | None:
        """The bytes of ``line`` (the part gathered so far) that may be sent now, or None."""
        if self.frozen:
            return None
        size = len(line)
        with memoryview(line) as view:  # released before the line grows again
            if size > self.checked and self.checks:
                # The checks see the new bytes and the margin before them again: a keyword
                # that straddles the previous boundary is then whole in what they see.
                with view[max(0, self.checked - self.margin) : size] as region:
                    if not all(check(region) for check in self.checks):  # type: ignore[arg-type]
                        self.frozen = True
                        return None
            self.checked = size
            limit = size - self.margin
            if limit <= self.sent:
                return None
            with view[self.sent : limit] as part:
                data = part.tobytes()
        # Never send what could end a whole message: the last '}' before trailing whitespace
        # stays back (with CUT_SHORT, no line cut short then parses, even leniently).
        kept = data.rstrip(b" \t\r\n")
        if kept.endswith(b"}"):
            data = kept[:-1]
            if not data:
                return None
        self.sent += len(data)
        return data
