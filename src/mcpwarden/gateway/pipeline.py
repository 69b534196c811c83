"""The guard pipeline: runs the compiled guards over a message and settles one verdict.

Which guard runs for which method is worked out once per method and cached, so a message
meets only the guards that care about it. A guard that raises is a Deny (fail closed). In
monitor mode nothing is denied or rewritten: the verdict is recorded as "would-deny" /
"would-rewrite" and the original message goes through.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcpwarden.errors import describe_fault
from mcpwarden.gateway.session import Call, Session
from mcpwarden.guards.base import PASS, Deny, Guard, Rewrite, Verdict
from mcpwarden.wire import codes
from mcpwarden.wire.message import Message

log = logging.getLogger("mcpwarden.pipeline")

RequestHook = Callable[[Message, Session], Verdict]
ResponseHook = Callable[[Message, Call, Session], Verdict]


@dataclass(slots=True)
class Outcome:
    """What the pipeline decided about one message."""

    msg: Message
    """The message to forward (the original, or the rewritten one)."""
    deny: Deny | None = None
    verdict: str = "pass"
    """pass | deny | rewrite | would-deny | would-rewrite | error"""
    rule: str | None = None
    notes: list[str] | None = None


class Pipeline:
    def __init__(self, guards: list[Guard], monitor: bool = False):
        self.guards = list(guards)
        self.monitor = monitor
        self.needs_tool_list = any(getattr(g, "needs_tool_list", False) for g in self.guards)
        """Some guard must know the server's tools before it can judge a tools/call."""
        self._stream_plans: dict[str, Any] = {}
        self._request_hooks: dict[str | None, tuple[tuple[str, RequestHook], ...]] = {}
        self._response_hooks: dict[str | None, tuple[tuple[str, ResponseHook], ...]] = {}

    def _hooks_for(self, method: str | None, hook: str, cache: dict[str | None, Any]) -> tuple[Any, ...]:
        found = cache.get(method)
        if found is None:
            found = tuple(
                (g.name, getattr(g, hook))
                for g in self.guards
                if g.defines(hook) and (g.methods is None or (method is not None and method in g.methods))
            )
            if len(cache) < 4096:  # methods are peer-chosen strings: bound the cache
                cache[method] = found
        return found

    def stream_plan(self, method: str) -> tuple[int, tuple[Callable[[bytes], bool], ...]] | None:
        """How a response to ``method`` may be streamed: (bytes to hold back, byte checks), or
        None when some guard must see it whole first (see ``guards.base``)."""
        plan = self._stream_plans.get(method, False)
        if plan is False:
            guards = [hook.__self__ for _, hook in self._hooks_for(method, "on_response", self._response_hooks)]
            if all(g.streams(method) for g in guards):
                plan = (max([0, *(g.stream_margin for g in guards)]), tuple(g.check_stream for g in guards))
            else:
                plan = None
            if len(self._stream_plans) < 4096:
                self._stream_plans[method] = plan
        return plan

    def on_request(self, msg: Message, session: Session) -> Outcome:
        hooks = self._hooks_for(msg.method, "on_request", self._request_hooks)
        if not hooks:
            return Outcome(msg)
        return self._run(msg, hooks, (session,))

    def on_response(self, msg: Message, call: Call, session: Session) -> Outcome:
        hooks = self._hooks_for(call.method, "on_response", self._response_hooks)
        if not hooks:
            return Outcome(msg)
        return self._run(msg, hooks, (call, session))

    def _run(self, msg: Message, hooks: tuple[tuple[str, Any], ...], extra: tuple[Any, ...]) -> Outcome:
        original = msg
        outcome = Outcome(msg)
        for name, hook in hooks:
            try:
                verdict = hook(msg, *extra)
            except Exception as exc:
                return _guard_failed(name, exc, original)
            if verdict is PASS:
                continue
            if isinstance(verdict, Deny):
                if self.monitor and not verdict.always:
                    if outcome.verdict != "would-deny":  # a denial outranks an earlier rewrite's rule
                        outcome.rule = verdict.rule
                    outcome.verdict = "would-deny"
                    _note(outcome, verdict.reason)
                    continue
                return Outcome(original, verdict, "deny", verdict.rule)
            if isinstance(verdict, Rewrite):
                if self.monitor:
                    if outcome.verdict == "pass":
                        outcome.verdict = "would-rewrite"
                        outcome.rule = verdict.rule
                    _note(outcome, verdict.note)
                    continue
                try:
                    msg = msg.replace(verdict.obj)
                except Exception as exc:  # e.g. a rewrite nested deeper than orjson writes
                    return _guard_failed(name, exc, original)
                outcome.msg = msg
                if outcome.verdict == "pass":
                    outcome.verdict = "rewrite"
                    outcome.rule = verdict.rule
                _note(outcome, verdict.note)
                continue
            if isinstance(verdict, type(PASS)):
                continue
            deny = Deny(f"guard '{name}' returned an invalid verdict; blocked", f"guards.{name}", codes.GUARD_FAILED)
            return Outcome(original, deny, "error", deny.rule)
        return outcome


def _guard_failed(name: str, exc: Exception, msg: Message) -> Outcome:
    """A guard raised (or its rewrite could not be serialised): block the message (fail
    closed, even in monitor mode: the gateway cannot tell what it would have decided)."""
    fault = describe_fault(exc)
    log.error("guard %r raised %s on %s %r; blocking the message (fail closed)", name, fault, msg.kind, msg.method)
    deny = Deny(
        f"guard '{name}' failed while checking this message, so it was blocked (fail closed)",
        f"guards.{name}",
        codes.GUARD_FAILED,
    )
    return Outcome(msg, deny, "error", deny.rule)


def _note(outcome: Outcome, note: str) -> None:
    if note:
        if outcome.notes is None:
            outcome.notes = []
        outcome.notes.append(note)
