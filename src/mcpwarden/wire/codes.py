"""JSON-RPC error codes that mcpwarden sends to peers.

The JSON-RPC pre-defined codes are used only for what they mean (a parse error is a parse
error). Everything the gateway itself decides uses codes outside the reserved range
-32768..-32000 (which also contains MCP's own -32020..-32099), so a client can tell a
gateway decision from a server error.
"""

from __future__ import annotations

# JSON-RPC 2.0 pre-defined codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

# mcpwarden's own codes: -31000..-31099.
DENIED = -31001
"""A guard denied the message: the message names the rule and what it blocked."""
GUARD_FAILED = -31002
"""A guard raised an error; the gateway failed closed and blocked the message."""
UPSTREAM_UNAVAILABLE = -31003
"""The upstream server exited, crashed or could not be started."""
UPSTREAM_TIMEOUT = -31004
"""The upstream server did not answer within the configured request timeout."""
MESSAGE_TOO_LARGE = -31005
"""The message exceeds gateway.max_message_bytes."""
UPSTREAM_INVALID = -31006
"""The upstream's answer to this request was not a valid JSON-RPC message (or too large),
noticed after part of it had been streamed to the client."""
GATEWAY_FAILED = -31007
"""mcpwarden itself failed while handling the message (a bug); it was not passed on."""
SECRET_BLOCKED = -31010
"""The detection engine found a secret, honeytoken or PII that policy blocks."""

GATEWAY_CODES = frozenset(
    {
        DENIED,
        GUARD_FAILED,
        UPSTREAM_UNAVAILABLE,
        UPSTREAM_TIMEOUT,
        MESSAGE_TOO_LARGE,
        UPSTREAM_INVALID,
        GATEWAY_FAILED,
        SECRET_BLOCKED,
    }
)
