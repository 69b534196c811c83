"""A session: one client conversation with an upstream server, and the state guards keep
for it. Nothing here assumes stdio or one session per process."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

Era = Literal["unknown", "handshake", "stateless"]
"""``handshake``: revisions <= 2025-11-25 (initialize, sessions, server->client requests).
``stateless``: 2026-07-28 and later (server/discover, no initialize)."""


@dataclass(slots=True)
class Call:
    """A request that passed the request guards and awaits its response."""

    id: Any
    method: str
    origin: str
    server: str
    tool: str | None = None
    arg_keys: tuple[str, ...] = ()
    args_sha256: str | None = None
    args: Any = None
    """The parsed arguments, kept (small ones only) so that their SHA-256 is computed when the
    audit record is written, off the request's path; ``args_sha256`` is set instead for large ones."""
    started: float = field(default_factory=time.monotonic)
    verdict: str = "pass"
    rule: str | None = None
    gateway_owned: bool = False
    """True for requests the gateway itself sent (e.g. a replayed initialize): their responses stay inside."""
    timeout: float | None = None
    """Seconds this request may wait for its answer (``gateway.startup_timeout`` while the
    upstream starts); None means ``gateway.request_timeout``."""


@dataclass(slots=True)
class Session:
    server: str
    principal: str = "local"
    id: str = field(default_factory=lambda: os.urandom(8).hex())
    era: Era = "unknown"
    protocol_version: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    """Per-guard state, keyed by guard name; it ends with the session."""
