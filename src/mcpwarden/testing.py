"""Factories for tests of guards and wire code: no process, no socket.

tmessage(method="tools/call", params={...})   a parsed Message
tsession(era="handshake")                     a Session
tpolicy(**overrides)                          a validated Policy
guard_for(GuardCls, **options)                a guard built from options
"""

from __future__ import annotations

from typing import Any

import orjson

from mcpwarden.gateway.session import Call, Era, Session
from mcpwarden.policy.schema import Policy
from mcpwarden.wire.message import Message, Origin, parse

__all__ = ["tcall", "tmessage", "tpolicy", "tresponse", "tsession"]


def tmessage(
    method: str = "tools/call",
    params: dict[str, Any] | None = None,
    id: Any = 1,
    origin: Origin = "client",
    notification: bool = False,
) -> Message:
    obj: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if not notification:
        obj["id"] = id
    if params is not None:
        obj["params"] = params
    return parse(orjson.dumps(obj), origin)


def tresponse(
    result: Any = None, id: Any = 1, error: dict[str, Any] | None = None, origin: Origin = "server"
) -> Message:
    obj: dict[str, Any] = {"jsonrpc": "2.0", "id": id}
    if error is not None:
        obj["error"] = error
    else:
        obj["result"] = result if result is not None else {}
    return parse(orjson.dumps(obj), origin)


def tcall(method: str = "tools/call", tool: str | None = None, id: Any = 1, server: str = "test") -> Call:
    return Call(id=id, method=method, origin="client", server=server, tool=tool)


def tsession(era: Era = "handshake", server: str = "test", principal: str = "local") -> Session:
    return Session(server=server, principal=principal, era=era)


def tpolicy(**overrides: Any) -> Policy:
    return Policy.model_validate(overrides)
