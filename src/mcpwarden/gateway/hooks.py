"""The hooks a guard may define, in the order a message meets them.

on_request(msg, session) -> Verdict
    A request or notification on its way to the other side. ``msg.origin`` is ``"client"``
    for client-to-server traffic (tools/call, resources/read, ...) and ``"server"`` for
    server-to-client requests of the handshake era (sampling/createMessage,
    elicitation/create, roots/list, ping). A Deny answers the sender with a JSON-RPC error
    (a denied notification is dropped and audited); a Rewrite forwards the rewritten message.

on_response(msg, call, session) -> Verdict
    The response to a request that passed. ``call`` says what was asked (method, tool,
    server, origin). A Deny replaces the response with an error to the requester; a Rewrite
    forwards the rewritten response (redaction, a filtered tools/list).

Guards run in the order of ``mcpwarden.guards.GUARD_ORDER`` for requests and in the same
order for responses. The first Deny stops the chain; a Rewrite is what later guards see.
"""

HOOKS = ("on_request", "on_response")
