"""What a guard is and what it may answer.

A guard is a small class with one concern. It is built once from the policy (``__init__``
compiles whatever lookups it needs), then its hooks are called for each message:

* ``on_request(msg, session)``: a request or notification on its way to the other side
  (``msg.origin`` says which side sent it: ``"client"`` or ``"server"``).
* ``on_response(msg, call, session)``: the response to a request that passed earlier;
  ``call`` describes that request (method, tool, server).

A large response can be streamed (``gateway.stream_results``): sent on in pieces while it
arrives, instead of being held whole until the hooks have seen it. That happens only when
every guard with an ``on_response`` hook for its method says ``streams(method)``; such a
guard promises that it never denies or rewrites that response for anything in bytes its
``check_stream`` passed, except bytes of the last ``stream_margin`` of them. The gateway
holds back the margin and at least the line's last byte, so a response that a hook does
block or rewrite in the end reaches the client cut short (unparseable) and is followed by
the error or the rewritten message.

A hook returns a verdict: ``PASS``, ``Deny(...)`` or ``Rewrite(...)``. A hook a guard does
not define is never called; ``methods`` narrows the requests a guard sees (None: all), and
the pipeline works out once, when it is built, which guard runs for which method. A guard
does no I/O and knows nothing of transports; per-session state lives in
``session.state[guard.name]``. A guard that raises makes the pipeline deny (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from mcpwarden.wire import codes

if TYPE_CHECKING:
    from mcpwarden.gateway.session import Call, Session
    from mcpwarden.wire.message import Message


@dataclass(frozen=True, slots=True)
class Pass:
    """Let the message through unchanged."""


PASS = Pass()


@dataclass(frozen=True, slots=True)
class Deny:
    """Block the message. ``reason`` is shown to the client; it must never contain secret values."""

    reason: str
    rule: str
    code: int = codes.DENIED
    data: dict[str, Any] | None = None
    always: bool = False
    """Deny even in monitor mode (a honeytoken: no legitimate message carries one)."""


@dataclass(frozen=True, slots=True)
class Rewrite:
    """Replace the message body with ``obj`` (a JSON-RPC message as a dict)."""

    obj: dict[str, Any]
    rule: str
    note: str = ""
    findings: tuple[Any, ...] = field(default=())


Verdict = Pass | Deny | Rewrite


class Guard:
    """Base class: subclasses set ``name`` and define the hooks they need."""

    name: ClassVar[str] = "guard"
    methods: ClassVar[frozenset[str] | None] = None
    """Request methods this guard looks at; None means every method."""

    def on_request(self, msg: Message, session: Session) -> Verdict:  # pragma: no cover - documentation only
        raise NotImplementedError

    def on_response(self, msg: Message, call: Call, session: Session) -> Verdict:  # pragma: no cover
        raise NotImplementedError

    stream_margin: int = 0
    """Bytes to hold back behind those ``check_stream`` passed (see the module docstring)."""

    def streams(self, method: str) -> bool:
        """Whether responses to ``method`` may be streamed through this guard. Default: no."""
        return False

    def check_stream(self, data: bytes) -> bool:
        """Whether ``data``, the next bytes of a streamed response (with some bytes before
        them again, so nothing is missed at a boundary), may go on once the margin is held back."""
        return True

    @classmethod
    def defines(cls, hook: str) -> bool:
        return getattr(cls, hook) is not getattr(Guard, hook)
