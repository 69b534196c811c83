"""The stdio gateway: one client on stdin/stdout, one upstream server, the guard pipeline
between them, and an audit record for every decision.

Messages are forwarded as the exact bytes they arrived as unless a guard rewrites them;
ids are not remapped (one client, one upstream), so every field survives. Requests the
gateway sends itself (a replayed ``initialize`` after an upstream restart) use ids in their
own namespace and their responses never reach the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections import deque
from collections.abc import Callable, Container
from typing import Any

import orjson

from mcpwarden.errors import FramingError, UpstreamError, describe_fault
from mcpwarden.gateway.launch import LaunchPlan
from mcpwarden.gateway.memory import HeapTrimmer
from mcpwarden.gateway.pipeline import Outcome, Pipeline
from mcpwarden.gateway.session import Call, Session
from mcpwarden.gateway.stream import ENVELOPE_BYTES, ResponseStream, envelope_id, result_first
from mcpwarden.gateway.upstream import StdioUpstream
from mcpwarden.guards.tools import ToolsGuard
from mcpwarden.policy.schema import Policy, ServerPolicy
from mcpwarden.wire import codes
from mcpwarden.wire.framing import LineSplitter, Oversize, line_edges
from mcpwarden.wire.message import Message, error_response, parse
from mcpwarden.wire.stdio import FdReader, FdWriter, enlarge_pipe

log = logging.getLogger("mcpwarden.gateway")

PROTOCOL_VERSION_META = "io.modelcontextprotocol/protocolVersion"
STATELESS_META = (
    PROTOCOL_VERSION_META,
    "io.modelcontextprotocol/clientInfo",
    "io.modelcontextprotocol/clientCapabilities",
)
"""The _meta keys every request carries in the 2026-07-28 era."""
OWN_ID_PREFIX = "mcpwarden-"
OPEN_ENDED_METHODS = frozenset({"subscriptions/listen"})
"""Requests meant to stay open until the client cancels them (2026-07-28 subscriptions): no
timeout applies."""
MAX_QUEUED = 10_000
QUEUE_HIGH_WATER = 8 << 20
"""Bytes of client messages waiting for a (re)starting upstream beyond which the client is not
read until they have gone on (``_client_flow``): the queue is bounded in bytes, not only in count."""
AUDIT_WAIT = 0.002
"""Longest time a delivered call's audit record waits to be written (``_write_later``)."""
HASH_LATER_BYTES = 64 * 1024
"""Requests up to this size keep their parsed arguments until the audit record is written
and are hashed then, off the request's path (``_new_call``)."""
UPSTREAM_NEVER_STARTED = 9
"""``run``'s exit code when no attempt to start the upstream succeeded (the CLI's code for UpstreamError)."""
STARTUP_METHODS = frozenset({"initialize", "server/discover"})
"""A session's opening requests: sent before the upstream first spoke, they get
``gateway.startup_timeout`` (a server fetched by npx or uvx may take a while to start)."""


class StdioGateway:
    def __init__(
        self,
        policy: Policy,
        name: str,
        server: ServerPolicy,
        pipeline: Pipeline,
        audit: Any,
        launch: LaunchPlan,
        client_in: int = 0,
        client_out: int = 1,
    ):
        self.policy = policy
        self.name = name
        self.server = server
        self.pipeline = pipeline
        self.audit = audit
        self._hashing = audit.enabled  # hashes exist only for audit records
        self._detection: Any = next(
            (g for g in pipeline.guards if g.name == "dlp" and getattr(g, "enabled", False)), None
        )
        """The detection guard, which judges peer-chosen names, when detection is on for this server."""
        self._names_shown: dict[tuple[Any, ...], tuple[tuple[str, ...], str | None, str]] = {}
        self.launch = launch
        self.client_in = client_in
        self.client_out = client_out
        self.session = Session(server=name)
        self.max_bytes = policy.gateway.max_message_bytes
        self.timeout = policy.gateway.request_timeout
        self.startup_timeout = policy.gateway.startup_timeout
        """Allowance (when longer than ``timeout``) for STARTUP_METHODS requests."""
        self._upstream_spoke = False
        self.pending: dict[Any, Call] = {}
        """Client requests forwarded upstream, by id."""
        self.server_pending: dict[Any, Call] = {}
        """Server requests forwarded to the client, by id."""
        self.own_pending: dict[str, str] = {}
        self._own_seq = 0
        self._init_request: dict[str, Any] | None = None
        self._initialized_note: bytes | None = None
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        """Bytes of the messages in ``_queue``."""
        self._upstream_backlogged = False
        self._client_held = False
        """The client's stdin is not read (``_client_flow``)."""
        self._ready = False
        self._failed = False
        self._closing = False
        self._done: asyncio.Event | None = None
        self._restarts = 0
        self._restarted = False
        self._last_start = 0.0
        self._exit_code = 0
        self._ever_started = False
        self._start_failure: str | None = None
        """Why the last start of the upstream failed, until one succeeds."""
        self._client_split = LineSplitter(self.max_bytes)
        self._held: list[tuple[Message, float]] = []
        """tools/call requests waiting for the gateway's own tools/list (read-only mode), and since when."""
        self._listing_pages = 0
        self._listing: Message | None = None
        """The call that started the gateway's own tools/list, while its pages are fetched."""
        self._listing_paged = False
        """The page of the gateway's own listing asked for now was asked with a cursor."""
        self._listing_stale = False
        """The server said its tools changed while the gateway's own listing was under way."""
        self._waiting: Callable[[], None] | None = None
        """The one audit record waiting to be written (``_write_later``)."""
        self._wait_timer: asyncio.TimerHandle | None = None
        self._stream: ResponseStream | None = None
        """The server response being streamed to the client (``gateway.stream_results``)."""
        self._stream_declined = False
        """The large line arriving now was looked at and is not streamed."""

    # ---- life cycle -------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.loop = loop
        self._done = asyncio.Event()
        self._trimmer = HeapTrimmer(loop)
        enlarge_pipe(self.client_in)
        enlarge_pipe(self.client_out)
        self.client_writer = FdWriter(loop, self.client_out, self._client_gone, self._client_backlog)
        self.upstream = StdioUpstream(
            loop,
            self.name,
            self.launch,
            self._from_server,
            self._upstream_exited,
            self._upstream_backlog,
            self.max_bytes,
        )
        if self.policy.gateway.stream_results:
            self.upstream.on_partial = self._server_partial
        self._start_upstream()
        self.client_reader = FdReader(loop, self.client_in, self._client_data, self._client_eof)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._begin_close, f"signal {signal.Signals(sig).name}")
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signal.SIGCHLD, self.upstream.reap_adopted)
        sweep = loop.create_task(self._sweep_timeouts())
        try:
            await self._done.wait()
            await self._shutdown()
        finally:
            sweep.cancel()
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
                with contextlib.suppress(Exception):
                    loop.remove_signal_handler(sig)
        return self._exit_code

    def _start_upstream(self) -> None:
        self._last_start = time.monotonic()
        self._upstream_spoke = False
        try:
            self.upstream.start()
        except UpstreamError as exc:
            log.error("%s", exc)
            self._start_failure = str(exc)
            self._audit_event("upstream", action="start-failed", detail=str(exc))
            if not self._ever_started:
                self._exit_code = UPSTREAM_NEVER_STARTED
            self._upstream_exited(None, str(exc))
            return
        self._ever_started = True
        self._start_failure = None
        self._exit_code = 0
        if self.client_writer.backlogged and self.upstream.reader is not None:
            self.upstream.reader.pause()  # the client is still not reading: a new server must wait too
        self._audit_event("upstream", action="start", upstream_pid=self.upstream.pid, restarts=self._restarts)
        if self._init_request is not None and self.session.era == "handshake":
            self._replay_initialize()
        else:
            self._ready = True
            self._flush_queue()

    def _begin_close(self, why: str) -> None:
        if not self._closing:
            log.info("shutting down (%s)", why)
            self._closing = True
            if self._done is not None:
                self._done.set()

    async def _shutdown(self) -> None:
        self.client_reader.close()
        code = await self.upstream.stop(self.policy.gateway.shutdown_grace)
        self._cut_stream()
        closing = f"mcpwarden: the gateway for '{self.name}' is shutting down; the request was not answered"
        if self._start_failure is not None:  # the reason it was never answered, not just the last event
            closing = f"mcpwarden: {self._start_failure}; the request was not answered (the gateway is shutting down)"
        for call in list(self.pending.values()):
            self._reply_client(call.id, codes.UPSTREAM_UNAVAILABLE, closing)  # a half-closed client still reads
            self._audit_call(call, "abandoned")
        self.pending.clear()
        self._release_held(codes.UPSTREAM_UNAVAILABLE, closing, "abandoned")
        self._audit_event("upstream", action="stop", exit_code=code)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client_writer.drain(), 5.0)
        self.client_writer.close()
        self._write_waiting()  # closing the writer settles the records of responses it still held
        with contextlib.suppress(Exception):
            await self.launch.close()

    # ---- client side ------------------------------------------------------------------

    def _client_data(self, buffer: Any, n: int) -> None:
        self._trimmer.saw(n)
        for line in self._client_split.feed(buffer, n):
            if isinstance(line, Oversize):
                self._client_oversize(line)
                continue
            try:
                msg = parse(line, "client")
            except FramingError as exc:
                reason, msg_id = exc.args[0], exc.args[1]
                self._audit_event("malformed", origin="client", reason=reason.split(":")[0])
                if len(exc.args) > 2:  # an answer the server cannot use: the server's request fails
                    self._fail_server_request(exc.args[2], codes.INVALID_REQUEST, f"mcpwarden: {reason}", "invalid")
                elif reason.startswith(("invalid JSON", "invalid UTF-8")):
                    # Not JSON, so the id is read from the line's edges: the side that waits
                    # for it is answered at once (an SDK client waits forever on id null).
                    self._client_unusable(line_edges(line), codes.PARSE_ERROR, f"mcpwarden: {reason}", "invalid")
                else:
                    self._reply_client(msg_id, codes.INVALID_REQUEST, f"mcpwarden: {reason}")
                continue
            self._guarded(msg, self._client_response if msg.kind == "response" else self._client_request)
        if self._waiting is not None:  # what the client sent is on its way: now write the waiting record
            self._write_waiting()

    def _client_oversize(self, line: Oversize) -> None:
        """A client line over the limit, dropped: its id (read from its edges) gets -31005."""
        self._audit_event("malformed", origin="client", reason="too-large", size=line.size)
        text = (
            f"mcpwarden: message of {line.size} bytes dropped: larger than gateway.max_message_bytes ({self.max_bytes})"
        )
        self._client_unusable(line, codes.MESSAGE_TOO_LARGE, text, "too-large")

    def _client_unusable(self, edges: Oversize, code: int, text: str, outcome: str) -> None:
        """A client line that could not be used, known by its edges: the side that waits for
        it gets ``code``: the client for a request, the server for an answer to its request."""
        if edges.kind == "response":
            self._fail_server_request(edges.id, code, text, outcome)
            return
        self._reply_client(edges.id, code, text)

    def _fail_server_request(self, msg_id: Any, code: int, text: str, outcome: str) -> None:
        """The client's answer to the server's request ``msg_id`` was unusable: the server,
        which waits for it, gets ``code`` instead."""
        call = self.server_pending.pop(msg_id, None) if msg_id is not None else None
        if call is not None:
            self._to_upstream(error_response(msg_id, code, text))
            self._audit_call(call, outcome)

    def _client_request(self, msg: Message) -> None:
        method = msg.method
        is_request = msg.kind == "request"
        if is_request and (msg.id in self.pending or (self._held and any(h.id == msg.id for h, _ in self._held))):
            self._reply_client(msg.id, codes.INVALID_REQUEST, _id_in_use(msg.id))
            return
        if is_request and isinstance(msg.id, str) and msg.id.startswith(OWN_ID_PREFIX):
            self._reply_client(
                msg.id, codes.INVALID_REQUEST, f"mcpwarden: ids starting with '{OWN_ID_PREFIX}' are reserved"
            )
            return
        self._track_era(msg)
        if (
            method == "tools/call"
            and is_request  # a notification is judged now: nothing may answer it later
            and self.pipeline.needs_tool_list
            and not self.pipeline.monitor  # monitor changes nothing: the call goes on, judged as it is
            and not ToolsGuard.listing_complete(self.session)
        ):
            self._hold_for_tool_list(msg)
            return
        outcome = self.pipeline.on_request(msg, self.session)
        call = self._new_call(msg, outcome) if is_request else None
        if outcome.deny is not None:
            deny = outcome.deny
            if is_request:
                self._reply_client(msg.id, deny.code, _deny_text(deny), _deny_data(deny, self.name))
            if call is None:
                call = self._new_call(msg, outcome)
            self._audit_call(call, "blocked")
            return
        if is_request:
            if self.startup_timeout > self.timeout and self._starting(method):
                call.timeout = self.startup_timeout  # type: ignore[union-attr]
            self.pending[msg.id] = call  # type: ignore[assignment]
        elif method == "notifications/cancelled":
            self._client_cancelled(msg)
        elif method == "notifications/initialized" and self.session.era == "handshake":
            self._initialized_note = msg.raw
        self._to_upstream(outcome.msg.raw)

    def _starting(self, method: str | None) -> bool:
        """Whether a request sent now waits for a server that is still starting: the first
        ``initialize``/``discover``, or anything sent while a crashed server restarts (until
        the new process has said something)."""
        return not self._upstream_spoke and (method in STARTUP_METHODS or self._restarted)

    def _client_cancelled(self, msg: Message) -> None:
        rid = msg.params.get("requestId")
        if not isinstance(rid, int | str):
            return
        if self._held:
            cancelled = [held for held, _ in self._held if held.id == rid]
            self._held = [entry for entry in self._held if entry[0].id != rid]
            for held in cancelled:
                self._audit_call(self._new_call(held, Outcome(held)), "cancelled")
        call = self.pending.pop(rid, None)
        if call is not None:
            self._end_stream_of(call)
            self._unqueue({call.id})
            self._audit_call(call, "cancelled")

    def _end_stream_of(self, call: Call) -> None:
        """``call`` is answered otherwise (timeout, cancel): a line that may answer it and is
        being streamed is cut short, and the rest of it is not streamed."""
        stream = self._stream
        if stream is not None and (stream.call is call or call.id in stream.ids):
            self._cut_stream()
            self._stream_declined = True

    def _cut_stream(self) -> None:
        """End the line being streamed, if any, cut short (unparseable)."""
        if self._stream is not None:
            self._stream = None
            self.client_writer.end_partial(b"")

    def _unqueue(self, answered: Container[Any]) -> bool:
        """Take the requests whose ids are in ``answered`` out of the queue for a (re)starting
        upstream: they were answered meanwhile and must not run. True if one was still queued."""
        if not self._queue:
            return False
        kept = deque(body for body in self._queue if _request_id(body) not in answered)
        found = len(kept) != len(self._queue)
        self._queue = kept
        if found:
            self._queued_bytes = sum(map(len, kept))
            self._client_flow()
        return found

    def _client_response(self, msg: Message) -> None:
        call = self.server_pending.pop(msg.id, None)
        if call is None:
            log.warning("dropped a response from the client to unknown id %s", self._shown_id(msg.id))
            self._audit_event("malformed", origin="client", reason="response to unknown id")
            return
        outcome = self.pipeline.on_response(msg, call, self.session)
        if outcome.deny is not None:
            self._to_upstream(error_response(call.id, outcome.deny.code, _deny_text(outcome.deny)))
            call.verdict, call.rule = outcome.verdict, outcome.rule
            self._audit_call(call, "blocked")
            return
        self._note_outcome(call, outcome)
        self._to_upstream(outcome.msg.raw)
        self._audit_call(call, "error" if "error" in msg.obj else "result", msg.obj, later=True)

    def _track_era(self, msg: Message) -> None:
        method = msg.method
        if method == "initialize" and msg.kind == "request":
            self.session.era = "handshake"
            self._init_request = msg.obj
            params = msg.params
            version = params.get("protocolVersion")
            self.session.protocol_version = version if isinstance(version, str) else None
        elif self.session.era == "unknown":
            meta = msg.params.get("_meta")
            if method == "server/discover" or (isinstance(meta, dict) and PROTOCOL_VERSION_META in meta):
                self.session.era = "stateless"
                version = meta.get(PROTOCOL_VERSION_META) if isinstance(meta, dict) else None
                self.session.protocol_version = version if isinstance(version, str) else None

    def _initialize_refused(self) -> None:
        """The server refused the client's ``initialize`` (a server of the stateless era only
        does): the session has no handshake to replay, and its era is decided by what the
        client sends next (``server/discover``, ``_meta`` protocol versions)."""
        self.session.era = "unknown"
        self.session.protocol_version = None
        self._init_request = None
        self._initialized_note = None

    def _guarded(self, msg: Message, handle: Callable[..., None], *args: Any) -> None:
        """``handle(msg, *args)``, where a fault in the gateway itself (a bug) is logged by the
        exception's type and place (never values), audited, and answered with -31007 to
        whoever still waits for ``msg`` to be answered or passed on; other messages go on."""
        from_client = msg.origin == "client"
        is_response = msg.kind == "response"
        # A response is awaited by the side that sent the request it answers.
        was_pending = is_response and msg.id in (self.server_pending if from_client else self.pending)
        try:
            handle(msg, *args)
        except Exception as exc:
            what = msg.method or "response"
            fault = describe_fault(exc)
            what, method = self._shown(what), self._shown(msg.method)  # peer-chosen: may hold a secret
            log.error("internal error handling a %s (%r) from the %s: %s", msg.kind, what, msg.origin, fault)
            self._audit_event("error", origin=msg.origin, method=method, reason=type(exc).__name__)
            if self.client_writer.partial_open and not from_client:
                self.client_writer.end_partial(b"")
            text = f"mcpwarden: internal error while handling this {what}; it was not passed on (see the gateway's log)"
            if is_response:
                if not was_pending:
                    return
                if from_client and msg.id not in self.server_pending:
                    self._to_upstream(error_response(msg.id, codes.GATEWAY_FAILED, text))
                elif not from_client and msg.id not in self.pending:
                    self._reply_client(msg.id, codes.GATEWAY_FAILED, text)
            elif msg.kind == "request":
                if from_client:
                    self._held = [entry for entry in self._held if entry[0] is not msg]
                    if msg.id not in self.pending:
                        self._reply_client(msg.id, codes.GATEWAY_FAILED, text)
                elif msg.id not in self.server_pending:
                    self._to_upstream(error_response(msg.id, codes.GATEWAY_FAILED, text))

    def _reply_client(self, msg_id: Any, code: int, text: str, data: dict[str, Any] | None = None) -> None:
        self.client_writer.write_line(error_response(msg_id, code, text, data))

    def _client_eof(self) -> None:
        if self._client_split.pending:
            log.warning(
                "client closed its stdin in the middle of a message (%d bytes dropped)", self._client_split.pending
            )
        self._begin_close("client closed stdin")

    def _client_gone(self, exc: OSError) -> None:
        self._begin_close(f"client stopped reading ({exc.strerror or exc})")

    def _client_backlog(self, backlogged: bool) -> None:
        if self.upstream.reader is not None:
            (self.upstream.reader.pause if backlogged else self.upstream.reader.resume)()
        self._client_flow()  # what the gateway answers itself (denials) would pile up too

    def _upstream_backlog(self, backlogged: bool) -> None:
        self._upstream_backlogged = backlogged
        self._client_flow()

    def _client_flow(self) -> None:
        """Read the client only while what it sends has somewhere to go: not while the
        upstream's stdin is backlogged, nor while more than ``QUEUE_HIGH_WATER`` bytes wait for
        a (re)starting upstream, nor while the client does not read what it is sent (the
        gateway's own answers, such as denials, would pile up): memory stays bounded whatever
        the client sends meanwhile."""
        hold = self._upstream_backlogged or self._queued_bytes > QUEUE_HIGH_WATER or self.client_writer.backlogged
        if hold != self._client_held:
            self._client_held = hold
            (self.client_reader.pause if hold else self.client_reader.resume)()

    # ---- server side ------------------------------------------------------------------

    def _from_server(self, line: bytes | Oversize) -> None:
        self._upstream_spoke = True
        stream, self._stream = self._stream, None
        self._stream_declined = False
        self._trimmer.saw(line.size if isinstance(line, Oversize) else len(line))
        if isinstance(line, Oversize):
            log.warning(
                "dropped a %d-byte message from upstream '%s': larger than gateway.max_message_bytes",
                line.size,
                self.name,
            )
            self._audit_event("malformed", origin="server", reason="too-large", size=line.size)
            if stream is not None:
                self._stream_failed(stream, "larger than gateway.max_message_bytes")
            elif line.kind == "request":  # the server's own request: it is the one waiting
                if line.id is not None:
                    self._to_upstream(
                        error_response(
                            line.id, codes.MESSAGE_TOO_LARGE, "mcpwarden: request larger than gateway.max_message_bytes"
                        )
                    )
            elif line.kind == "response":
                self._fail_call(line.id, "larger than gateway.max_message_bytes", codes.MESSAGE_TOO_LARGE, "too-large")
            return
        try:
            msg = parse(line, "server")
        except FramingError as exc:
            reason, msg_id = exc.args[0], exc.args[1]
            log.warning("dropped output from upstream '%s' that is not a JSON-RPC message: %s", self.name, reason[:200])
            self._audit_event("malformed", origin="server", reason=reason.split(":")[0])
            answered = exc.args[2] if len(exc.args) > 2 else None
            if stream is not None:
                self._stream_failed(stream, "not a valid JSON-RPC message")
            elif answered is not None:  # a response the client could not use: its request fails
                why = reason.replace("a response ", "", 1)
                self._fail_call(answered, why, codes.UPSTREAM_INVALID, "upstream-invalid")
            elif msg_id is not None:
                self._to_upstream(error_response(msg_id, codes.INVALID_REQUEST, f"mcpwarden: {reason}"))
            else:  # not JSON: the request it answers, known by the line's edges, fails at once
                edges = line_edges(line)
                if edges.kind == "response":
                    self._fail_call(edges.id, "that is not valid JSON", codes.UPSTREAM_INVALID, "upstream-invalid")
                elif edges.kind == "request" and edges.id is not None:
                    self._to_upstream(error_response(edges.id, codes.PARSE_ERROR, f"mcpwarden: {reason}"))
            return
        if stream is not None and (msg.kind != "response" or not stream.answers(msg.id)):
            self.client_writer.end_partial(b"")  # not the response it began as: cut what was sent short
            stream = None
        if msg.kind == "response":
            self._guarded(msg, self._server_response, stream)
        elif msg.kind == "request":
            self._guarded(msg, self._server_request)
        else:
            self._guarded(msg, self._server_notification)

    def _server_notification(self, msg: Message) -> None:
        outcome = self.pipeline.on_request(msg, self.session)
        if msg.method == "notifications/tools/list_changed" and self._listing is not None:
            self._listing_stale = True  # the pages read so far are forgotten: start over
        if outcome.deny is not None:
            self._audit_call(self._new_call(msg, outcome), "blocked")
            return
        self.client_writer.write_line(outcome.msg.raw)

    def _server_response(self, msg: Message, stream: ResponseStream | None = None) -> None:
        call = self.pending.pop(msg.id, None)
        if call is None:
            if stream is not None:  # its request was answered meanwhile (timeout, cancelled)
                self.client_writer.end_partial(b"")
            if self.own_pending and isinstance(msg.id, str) and msg.id in self.own_pending:
                self._own_response(msg)
                return
            log.warning("dropped a response from upstream '%s' to unknown id %s", self.name, self._shown_id(msg.id))
            self._audit_event("malformed", origin="server", reason="response to unknown id")
            return
        if call.method == "initialize" and "error" in msg.obj:
            self._initialize_refused()
        outcome = self.pipeline.on_response(msg, call, self.session)
        if stream is not None:
            # The client has the response's first part: end it with the rest when it goes out
            # as it came, else cut it short (unparseable) before what replaces it.
            self.client_writer.end_partial(
                msg.raw[stream.sent :] if outcome.deny is None and outcome.msg is msg else b""
            )
        if outcome.deny is not None:
            self._reply_client(
                call.id, outcome.deny.code, _deny_text(outcome.deny), _deny_data(outcome.deny, self.name)
            )
            call.verdict, call.rule = outcome.verdict, outcome.rule
            self._audit_call(call, "blocked")
            return
        self._note_outcome(call, outcome)
        if stream is None or outcome.msg is not msg:
            self.client_writer.write_line(outcome.msg.raw)
        obj = msg.obj
        self.client_writer.when_flushed(
            lambda: self._audit_call(call, "error" if "error" in obj else "result", obj, later=True)
        )

    def _server_partial(self, line: bytearray | None) -> None:
        """A large line from the server is arriving: stream it if it is a response that may be
        streamed (see ``gateway.stream``). None: the line outgrew ``max_message_bytes`` and is
        being dropped."""
        stream = self._stream
        if line is None:
            if stream is not None:
                self._stream = None
                self._stream_failed(stream, "larger than gateway.max_message_bytes")
            self._stream_declined = True
            return
        if stream is None:
            if self._stream_declined:
                return
            self._stream_declined = True  # decided once per line
            stream = self._stream = self._new_stream(bytes(line[:ENVELOPE_BYTES]))
            if stream is None:
                return
        data = stream.advance(line)
        if data:
            self.client_writer.write_partial(data)

    def _new_stream(self, head: bytes) -> ResponseStream | None:
        """A stream for the large line beginning with ``head``, or None if it must be held whole."""
        if self.client_writer.partial_open:
            return None
        msg_id = envelope_id(head)
        if msg_id is not None:
            call = self.pending.get(msg_id)
            plan = self.pipeline.stream_plan(call.method) if call is not None else None
            return ResponseStream(call, msg_id, *plan) if plan is not None else None
        if not result_first(head) or not self.pending or self.own_pending:
            return None
        # The id comes last: every request it may answer must allow streaming.
        plans = [self.pipeline.stream_plan(call.method) for call in self.pending.values()]
        if any(plan is None for plan in plans):
            return None
        margin = max(plan[0] for plan in plans)  # type: ignore[index]
        checks = tuple(dict.fromkeys(check for plan in plans for check in plan[1]))  # type: ignore[index]
        return ResponseStream(None, None, margin, checks, frozenset(self.pending))

    def _stream_failed(self, stream: ResponseStream, why: str) -> None:
        """A streamed response turned out unusable: cut what was sent short and answer its
        request with an error (fail closed)."""
        self.client_writer.end_partial(b"")
        msg_id = stream.id
        if msg_id is None and len(stream.ids) == 1:  # the id comes last, but only one request could be answered
            (msg_id,) = stream.ids
        self._fail_call(msg_id, why, codes.UPSTREAM_INVALID, "upstream-invalid")

    def _fail_call(self, msg_id: Any, why: str, code: int, outcome: str) -> None:
        """The upstream's answer to ``msg_id`` was unusable: the request gets an error (fail closed)."""
        if isinstance(msg_id, str) and self.own_pending.get(msg_id) == "tools/list":
            # The gateway's own listing cannot be finished: the calls that wait for it fail
            # now rather than at their timeout, and the next call held for it asks again.
            del self.own_pending[msg_id]
            self._listing = None
            self._release_held(
                code,
                f"mcpwarden: upstream server '{self.name}' sent a response {why} to the tools/list this "
                "read-only server needs before tools/call",
                outcome,
            )
            return
        call = self.pending.pop(msg_id, None) if msg_id is not None else None
        if call is not None:
            self._reply_client(call.id, code, f"mcpwarden: upstream server '{self.name}' sent a response {why}")
            self._audit_call(call, outcome)

    def _server_request(self, msg: Message) -> None:
        if msg.id in self.server_pending:
            log.warning("upstream '%s' reused id %r of a request still pending; refused it", self.name, msg.id)
            self._to_upstream(error_response(msg.id, codes.INVALID_REQUEST, _id_in_use(msg.id)))
            self._audit_event("malformed", origin="server", reason="duplicate request id")
            return
        outcome = self.pipeline.on_request(msg, self.session)
        call = self._new_call(msg, outcome)
        if outcome.deny is not None:
            self._to_upstream(error_response(msg.id, outcome.deny.code, _deny_text(outcome.deny)))
            self._audit_call(call, "blocked")
            return
        self.server_pending[msg.id] = call
        self.client_writer.write_line(outcome.msg.raw)

    def _to_upstream(self, body: bytes) -> None:
        if self._ready and self.upstream.send(body):
            return
        if self._failed:
            self._fail_message(body)
            return
        if len(self._queue) >= MAX_QUEUED:
            self._fail_message(body)
            return
        self._queue.append(body)
        self._queued_bytes += len(body)
        if self._queued_bytes > QUEUE_HIGH_WATER:
            self._client_flow()

    def _fail_message(self, body: bytes) -> None:
        """Answer a message that cannot reach the upstream (only requests can be answered)."""
        call = self.pending.pop(_request_id(body), None)
        if call is not None:  # a request not answered yet
            self._reply_client(call.id, codes.UPSTREAM_UNAVAILABLE, self._unavailable())
            self._audit_call(call, "upstream-unavailable")

    def _unavailable(self) -> str:
        return f"mcpwarden: upstream server '{self.name}' is not available"

    def _flush_queue(self) -> None:
        while self._queue and self._ready:
            body = self._queue.popleft()
            if not self.upstream.send(body):
                self._queue.appendleft(body)
                break
            self._queued_bytes -= len(body)
        self._client_flow()

    # ---- upstream restarts ------------------------------------------------------------

    def _upstream_exited(self, code: int | None, failure: str | None = None) -> None:
        """The upstream ended (exit ``code``), or could not be started (``failure`` says why)."""
        self._cut_stream()  # its request is answered below
        self._stream_declined = False
        self._ready = False
        self._upstream_spoke = False
        self._restarted = True
        self.own_pending.clear()
        self._listing = None
        if self._closing:
            return
        text = f"mcpwarden: {failure}" if failure else (
            f"mcpwarden: upstream server '{self.name}' exited (code {code}) before answering"
        )
        self._release_held(codes.UPSTREAM_UNAVAILABLE, text, "upstream-exit")
        if failure is None:
            log.warning("upstream '%s' exited (code %s)", self.name, code)
            self._audit_event("upstream", action="exit", exit_code=code)
        for call in list(self.pending.values()):
            self._reply_client(call.id, codes.UPSTREAM_UNAVAILABLE, text)
            self._audit_call(call, "upstream-exit")
        if self.pending:
            self._unqueue(self.pending)  # answered just now: they must not reach the next process
        self.pending.clear()
        self.server_pending.clear()
        restart = self.server.restart
        if time.monotonic() - self._last_start > restart.reset_after:
            self._restarts = 0
        if self._restarts >= restart.max_restarts:
            self._failed = True
            log.error("upstream '%s' exited %d times; giving up", self.name, self._restarts + 1)
            self._audit_event("upstream", action="give-up", restarts=self._restarts)
            while self._queue:
                self._fail_message(self._queue.popleft())
            self._queued_bytes = 0
            self._client_flow()
            return
        delay = min(restart.initial_delay * (2**self._restarts), restart.max_delay)
        self._restarts += 1
        self._audit_event("upstream", action="restart", delay_s=delay, attempt=self._restarts)
        self.loop.call_later(delay, self._restart)

    def _restart(self) -> None:
        if not self._closing:
            self._start_upstream()

    def _replay_initialize(self) -> None:
        self._own_seq += 1
        own_id = f"{OWN_ID_PREFIX}init-{self._own_seq}"
        request = dict(self._init_request or {})
        request["id"] = own_id
        self.own_pending[own_id] = "initialize"
        self.upstream.send(orjson.dumps(request))

    def _hold_for_tool_list(self, msg: Message) -> None:
        if self._failed:  # the upstream gave up: nobody will answer a listing
            self._reply_client(msg.id, codes.UPSTREAM_UNAVAILABLE, self._unavailable())
            self._audit_call(self._new_call(msg, Outcome(msg)), "upstream-unavailable")
            return
        if self._listing is None:
            self._listing = msg
            self._listing_pages = 0
            self._listing_stale = False
            self._request_tool_list(None, msg)
        self._held.append((msg, time.monotonic()))

    def _request_tool_list(self, cursor: str | None, like: Message) -> None:
        self._own_seq += 1
        own_id = f"{OWN_ID_PREFIX}tools-{self._own_seq}"
        params: dict[str, Any] = {}
        meta = like.params.get("_meta")
        if isinstance(meta, dict) and PROTOCOL_VERSION_META in meta:
            # The stateless era needs the client's protocol version and capabilities on every
            # request; nothing else of the client's _meta belongs on the gateway's own request.
            params["_meta"] = {key: meta[key] for key in STATELESS_META if key in meta}
        if cursor is not None:
            params["cursor"] = cursor
        self.own_pending[own_id] = "tools/list"
        self._listing_pages += 1
        self._listing_paged = cursor is not None
        self._to_upstream(orjson.dumps({"jsonrpc": "2.0", "id": own_id, "method": "tools/list", "params": params}))

    def _own_tool_list(self, msg: Message) -> None:
        call = Call(
            id=msg.id,
            method="tools/list",
            origin="client",
            server=self.name,
            arg_keys=("cursor",) if self._listing_paged else (),
            gateway_owned=True,
        )
        self.pipeline.on_response(msg, call, self.session)  # lets the guards learn the tools; nothing is forwarded
        result = msg.obj.get("result")
        cursor = result.get("nextCursor") if isinstance(result, dict) else None
        if self._listing_stale and self._listing_pages < 50 and self._listing is not None:
            # A list_changed came while the pages were read: what they said is forgotten, so
            # the listing starts over (within the same bound of pages).
            self._listing_stale = False
            self._request_tool_list(None, self._listing)
            return
        if isinstance(cursor, str) and cursor and self._listing_pages < 50 and self._listing is not None:
            # Every page, even when the calls that waited were cancelled or timed out
            # meanwhile: the listing is marked complete only once it is.
            self._request_tool_list(cursor, self._listing)
            return
        self._listing = None
        if "error" in msg.obj:
            log.warning("upstream '%s' refused the gateway's tools/list; unlisted tools count as unknown", self.name)
        self.session.state.setdefault(ToolsGuard.name, {"hints": {}, "complete": True})["complete"] = True
        held, self._held = self._held, []
        for waiting, _ in held:
            self._guarded(waiting, self._client_request)

    def _release_held(self, code: int, text: str, outcome: str) -> None:
        held, self._held = self._held, []
        for waiting, _ in held:
            self._reply_client(waiting.id, code, text)
            self._audit_call(self._new_call(waiting, Outcome(waiting)), outcome)

    def _own_response(self, msg: Message) -> None:
        what = self.own_pending.pop(msg.id)
        if what == "tools/list":
            self._own_tool_list(msg)
            return
        if what == "initialize":
            if "error" in msg.obj:
                log.error("upstream '%s' refused the replayed initialize after restart", self.name)
            if self._initialized_note is not None:
                self.upstream.send(self._initialized_note)
            self._ready = True
            self._flush_queue()

    # ---- timeouts ---------------------------------------------------------------------

    async def _sweep_timeouts(self) -> None:
        interval = min(1.0, max(0.05, self.timeout / 4))
        while True:
            await asyncio.sleep(interval)
            if self._held:
                self._expire_held()
            if not self.pending:
                continue
            now = time.monotonic()
            default = self.timeout
            expired = [
                c
                for c in self.pending.values()
                if now - c.started > (c.timeout or default) and c.method not in OPEN_ENDED_METHODS
            ]
            for call in expired:
                del self.pending[call.id]
                self._end_stream_of(call)
                queued = self._unqueue({call.id})
                limit, key = (
                    (call.timeout, "gateway.startup_timeout") if call.timeout else (default, "gateway.request_timeout")
                )
                self._reply_client(
                    call.id,
                    codes.UPSTREAM_TIMEOUT,
                    f"mcpwarden: upstream server '{self.name}' did not answer {call.method} within {limit:g} s ({key})",
                )
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": call.id, "reason": "mcpwarden: request timeout"},
                }
                if self._ready and not queued and call.method != "initialize":  # which MUST NOT be cancelled
                    self.upstream.send(orjson.dumps(cancel))
                self._audit_call(call, "timeout")

    def _expire_held(self) -> None:
        """Calls held for the gateway's own ``tools/list`` time out like any request."""
        now = time.monotonic()
        expired = [(msg, since) for msg, since in self._held if now - since > self.timeout]
        if not expired:
            return
        self._held = [entry for entry in self._held if entry not in expired]
        for msg, _ in expired:
            self._reply_client(
                msg.id,
                codes.UPSTREAM_TIMEOUT,
                f"mcpwarden: upstream server '{self.name}' did not answer the tools/list this read-only server needs "
                f"before {msg.method} within {self.timeout:g} s (gateway.request_timeout)",
            )
            self._audit_call(self._new_call(msg, Outcome(msg)), "timeout")

    # ---- audit ------------------------------------------------------------------------

    def _new_call(self, msg: Message, outcome: Outcome) -> Call:
        params = msg.params
        tool = None
        if msg.method == "tools/call":
            tool = msg.tool_name
            args = params.get("arguments")
        else:
            args = {k: v for k, v in params.items() if k != "_meta"} if params else None
        keys = tuple(args) if isinstance(args, dict) else ()
        method = msg.method or ""
        if self._hashing:
            names = (keys, tool, method)
            shown = self._names_shown.get(names)  # the same few shapes come again and again
            if shown is None:
                shown = self._names_for_record(keys, tool, method)
                if len(keys) <= 64 and sum(map(len, keys)) + len(tool or "") + len(method) <= 4096:
                    if len(self._names_shown) >= 1024:
                        self._names_shown.clear()
                    self._names_shown[names] = shown
            keys, tool, method = shown
        call = Call(
            id=msg.id,
            method=method,
            origin=msg.origin,
            server=self.name,
            tool=tool,
            arg_keys=keys,
            verdict=outcome.verdict,
            rule=outcome.rule,
        )
        if args is not None and self._hashing:
            # Hashed when the record is written, after forwarding; a large value is hashed now
            # rather than kept alive while its request is pending.
            if len(msg.raw) <= HASH_LATER_BYTES:
                call.args = args
            else:
                call.args_sha256 = _audit_digest(args, call.method, "arguments", orjson.OPT_SORT_KEYS)
        return call

    def _names_for_record(
        self, keys: tuple[str, ...], tool: str | None, method: str
    ) -> tuple[tuple[str, ...], str | None, str]:
        """Peer-chosen names as an audit record may hold them."""
        if self._detection is not None:  # a secret used as a key, tool or method name never reaches the log
            keys, tool = self._shown_names(keys, tool)
            method = self._detection.shown_name(method)
        if not _encodable((keys, tool, method)):
            # A lone surrogate (valid JSON, read by the fallback parser) cannot go into a record.
            keys = tuple(k if _encodable(k) else f"{{key#{i}}}" for i, k in enumerate(keys))
            tool = tool if _encodable(tool) else NOT_UNICODE
            method = method if _encodable(method) else NOT_UNICODE
        return keys, tool, method

    def _shown(self, name: str | None) -> str | None:
        """A peer-chosen name as logs and records may repeat it (see ``DlpGuard.shown_name``)."""
        return name if self._detection is None else self._detection.shown_name(name)

    def _shown_id(self, msg_id: Any) -> str:
        """A peer-chosen id as a log line may repeat it: withheld when it may hold a secret."""
        text = repr(msg_id)
        return text if self._shown(text) == text else "(withheld: it holds a finding)"

    def _shown_names(self, keys: tuple[str, ...], tool: str | None) -> tuple[tuple[str, ...], str | None]:
        """Argument key names and the tool name as the audit record may hold them: names the
        detection engine cannot prove clean are withheld (keys as ``{key#N}``, like the
        engine's own finding paths). One check covers the usual all-clean case."""
        dlp = self._detection
        try:
            if dlp.engine.clean_json_line(orjson.dumps((keys, tool))):
                return keys, tool
        except orjson.JSONEncodeError:
            pass
        keys = tuple(k if dlp.shown_name(k) == k else f"{{key#{i}}}" for i, k in enumerate(keys))
        return keys, dlp.shown_name(tool)

    def _note_outcome(self, call: Call, outcome: Outcome) -> None:
        if outcome.verdict != "pass" and (call.verdict == "pass" or outcome.verdict == "would-deny"):
            call.verdict, call.rule = outcome.verdict, outcome.rule

    def _audit_call(
        self, call: Call, outcome: str, answer: dict[str, Any] | None = None, *, later: bool = False
    ) -> None:
        """Record ``call``'s decision. ``answer``: the response message it got, whose result
        (or error) is hashed for the record. ``later``: the call's response was just
        delivered; its record may wait its turn (see ``_write_later``)."""
        warnings = None
        dlp = self.session.state.get("dlp")
        if dlp:
            warnings = dlp.pop("warnings", None)
            alerts = dlp.pop("alerts", None)
            if alerts:
                self._audit_alerts(alerts)
        if not self._hashing:  # no audit log
            return
        duration_ms = round((time.monotonic() - call.started) * 1000, 3)

        def write() -> None:
            args_sha = call.args_sha256
            if args_sha is None and call.args is not None:
                args_sha = _audit_digest(call.args, call.method, "arguments", orjson.OPT_SORT_KEYS)
            result_sha = None
            if answer is not None:
                result_sha = _audit_digest(answer.get("result", answer.get("error")), call.method, "result", 0)
            record: dict[str, Any] = {
                "event": "call",
                "session": self.session.id,
                "principal": self.session.principal,
                "server": call.server,
                "origin": call.origin,
                "method": call.method,
                "tool": call.tool,
                "arg_keys": list(call.arg_keys),
                "args_sha256": args_sha,
                "result_sha256": result_sha,
                "verdict": call.verdict,
                "rule": call.rule,
                "outcome": outcome,
                "duration_ms": duration_ms,
            }
            if warnings:
                record["warnings"] = warnings
            self._append(record)

        if later:
            self._write_later(write)
        else:
            write()

    def _write_later(self, write: Callable[[], None]) -> None:
        """Let one call's record wait until the gateway has forwarded the client's next
        message, or for ``AUDIT_WAIT`` seconds when none comes: its writing then runs while the
        server works on that message instead of competing for the CPU with the peers that just
        got an answer. Only one record ever waits (a second writes the first), and every
        other record writes it first, so the log keeps the order of decisions and a
        ``kill -9`` loses at most that one record."""
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            _run_safely(waiting)  # before ``write`` waits: records keep the order of decisions
        self._waiting = write
        if self._wait_timer is None:
            self._wait_timer = self.loop.call_later(AUDIT_WAIT, self._write_waiting)

    def _write_waiting(self) -> None:
        timer, self._wait_timer = self._wait_timer, None
        if timer is not None:
            timer.cancel()  # a cancelled timer never wakes the loop
        waiting, self._waiting = self._waiting, None
        if waiting is not None:
            _run_safely(waiting)

    def _audit_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """Honeytoken appearances: critical, always audited and logged (never the value)."""
        for alert in alerts:
            log.error(
                "ALERT: honeytoken %s seen in %s of %s on server '%s'",
                alert.get("rule"),
                alert.get("direction", "a message"),
                alert.get("tool") or "a message",
                self.name,
            )
            self._audit_event("alert", severity="critical", **{k: v for k, v in alert.items() if k != "server"})

    def _audit_event(self, event: str, **fields: Any) -> None:
        record = {"event": event, "session": self.session.id, "server": self.name}
        record.update(fields)
        self._append(record)

    def _append(self, record: dict[str, Any]) -> None:
        if self._waiting is not None:
            self._write_waiting()
        try:
            self.audit.append(record)
        except Exception:
            # The decision was made and enforced; losing its record must be loud.
            log.exception("could not write an audit record")


NOT_UNICODE = "(name withheld: not valid Unicode)"


def _encodable(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


def _id_in_use(msg_id: Any) -> str:
    return f"mcpwarden: id {msg_id!r} is already in use by a pending request"


def _request_id(body: bytes) -> Any:
    """The id of the request ``body`` (a line queued for the upstream), or None."""
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("method") is None:
        return None
    msg_id = obj.get("id")
    return msg_id if isinstance(msg_id, str | int) else None


def _audit_digest(value: Any, method: str, what: str, option: int) -> str | None:
    """SHA-256 of ``value`` as JSON for an audit record; None (and a warning) for a value
    orjson reads but will not write back (e.g. nesting deeper than it serialises)."""
    try:
        return hashlib.sha256(orjson.dumps(value, option=option)).hexdigest()
    except Exception as exc:
        log.warning("could not hash the %s of a %s for the audit log: %s", what, method, exc)
        return None


def _run_safely(write: Callable[[], None]) -> None:
    """Write a waiting audit record from wherever the gateway is: its failure must not break
    the message being handled (it is logged; ``_append`` already logs a failed append)."""
    try:
        write()
    except Exception:
        log.exception("could not write an audit record")


def _deny_text(deny: Any) -> str:
    return f"mcpwarden: blocked by rule '{deny.rule}': {deny.reason}"


def _deny_data(deny: Any, server: str) -> dict[str, Any]:
    data = {"rule": deny.rule, "server": server}
    if deny.data:
        data.update(deny.data)
    return data
