"""A JSON-RPC message as the gateway sees it: the bytes it arrived as, and its parsed form.

The gateway forwards ``raw`` unchanged unless a guard rewrites the message, so every field
(unknown ones and ``_meta`` included) survives byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Literal

import orjson

from mcpwarden.errors import FramingError

Kind = Literal["request", "notification", "response"]
Origin = Literal["client", "server"]

_NO_ID = object()


class Message:
    """One parsed JSON-RPC message. ``raw`` is the exact line it came as (without the newline)."""

    __slots__ = ("id", "kind", "method", "obj", "origin", "raw")

    def __init__(self, raw: bytes, obj: dict[str, Any], kind: Kind, method: str | None, id: Any, origin: Origin):
        self.raw = raw
        self.obj = obj
        self.kind = kind
        self.method = method
        self.id = id
        self.origin = origin

    @property
    def params(self) -> dict[str, Any]:
        p = self.obj.get("params")
        return p if isinstance(p, dict) else {}

    @property
    def tool_name(self) -> str | None:
        """The tool a ``tools/call`` request names, else None."""
        if self.method != "tools/call":
            return None
        name = self.params.get("name")
        return name if isinstance(name, str) else None

    def replace(self, obj: dict[str, Any]) -> Message:
        """A copy carrying ``obj`` (re-serialised) in place of this message's body."""
        return Message(orjson.dumps(obj), obj, self.kind, self.method, self.id, self.origin)

    def __repr__(self) -> str:  # never the body: it may hold secrets
        return f"<Message {self.origin} {self.kind} method={self.method!r} id={self.id!r} bytes={len(self.raw)}>"


def parse(raw: bytes, origin: Origin) -> Message:
    """Parse one JSON-RPC line. Raises FramingError with a reason fit to show a peer.

    The message's ``raw`` is the line, except that each carriage return (whitespace, in
    valid JSON) becomes a space.

    ``FramingError.args[1]`` carries the id when the message was a request with an id, so the
    error can be answered to the right request; a response that holds neither a result nor an
    error, or both, carries the id of the request it answers in ``args[2]``.
    """
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        obj = strict_json(raw)
        if obj is INVALID:
            reason = "invalid UTF-8" if "utf-8" in str(exc).lower() else "invalid JSON"
            raise FramingError(f"{reason}: {exc}", None) from None
    if isinstance(obj, dict) and isinstance(obj.get("id"), float):
        obj = strict_json(raw)  # an integer id beyond 64 bits, which orjson reads as a float
    if not isinstance(obj, dict):
        if isinstance(obj, list):
            raise FramingError("JSON-RPC batches (arrays) are not supported by MCP", None)
        raise FramingError("a JSON-RPC message must be a JSON object", None)
    variant = case_variant(obj, _MEMBERS)
    if variant is not None:
        msg_id = obj.get("id")
        raise FramingError(
            f"member {variant!r} differs from the JSON-RPC member {variant.casefold()!r} only in case",
            msg_id if _valid_id(msg_id) and "method" in obj else None,
        )
    if b"\r" in raw:
        # Valid JSON holds a carriage return only as whitespace between tokens, but a peer
        # that reads lines with universal newlines (the Python SDK's stdio server) ends a
        # line there: a message could hide a second one between two CRs. It goes on as a
        # space, which means the same to JSON and ends no line.
        raw = bytes(raw).replace(b"\r", b" ")
    msg_id = obj.get("id", _NO_ID)
    method = obj.get("method")
    if method is not None:
        if not isinstance(method, str):
            raise FramingError("'method' must be a string", None if msg_id is _NO_ID else msg_id)
        if msg_id is _NO_ID:
            return Message(raw, obj, "notification", method, None, origin)
        if not _valid_id(msg_id):
            raise FramingError("'id' must be a string or an integer", None)
        return Message(raw, obj, "request", method, msg_id, origin)
    if msg_id is _NO_ID:
        raise FramingError("not a JSON-RPC request, notification or response", None)
    if not _valid_id(msg_id) and msg_id is not None:
        raise FramingError("'id' must be a string or an integer", None)
    has_result = "result" in obj
    if has_result == ("error" in obj):
        # A response shape the other side cannot use (and whose error may hide what the
        # result shows): args[2] is the id of the request it claims to answer.
        what = "both a result and an error" if has_result else "neither a result nor an error"
        raise FramingError(f"a response with {what}", None, msg_id)
    return Message(raw, obj, "response", None, msg_id, origin)


INVALID = object()
"""What ``strict_json`` returns for a line that is not JSON."""
_MEMBERS = frozenset({"jsonrpc", "id", "method", "params", "result", "error"})


def case_variant(keys: Iterable[str], names: frozenset[str]) -> str | None:
    """A key that differs from one of ``names`` only in case, or None. Some JSON libraries
    (Go's encoding/json) match member names ignoring case, and the last one wins: "METHOD"
    after "method" would be what such a peer obeys, not what the gateway judged."""
    for key in keys:
        if key not in names and key.casefold() in names:
            return key
    return None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json(raw: bytes) -> Any:
    """The standard library's reading of a line orjson refused or read lossily: it accepts
    what RFC 8259 allows and orjson does not (a lone surrogate escape such as ``"\\ud83d"``,
    which JavaScript writes for a string cut inside an emoji; integers beyond 64 bits). The
    line must still be UTF-8 and hold no NaN or Infinity. ``INVALID`` if it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        return INVALID


def _valid_id(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)


def error_response(msg_id: Any, code: int, message: str, data: dict[str, Any] | None = None) -> bytes:
    """A JSON-RPC error response line body (no newline)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if data:
        err["data"] = data
    return orjson.dumps({"jsonrpc": "2.0", "id": msg_id, "error": err})
