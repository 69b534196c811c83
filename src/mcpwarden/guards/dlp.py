"""Data-loss prevention: secrets, PII and honeytokens in both directions.

Requests (what a client sends: ``tools/call`` arguments, ``prompts/get`` and other params;
and requests a server sends to the client, such as ``sampling/createMessage``) use the
``arguments`` action. Responses use the ``results`` action when the server answers and the
``arguments`` action when the client answers a server's request (then the client is the
one sending data out). Findings of tier ``generic`` and ``pii`` use their own actions; a
per-rule action beats all of these; honeytokens are always blocked.

Verdict: any ``block`` -> Deny naming rules and JSON paths (never values); else any
``redact`` -> Rewrite with those findings replaced by ``[REDACTED:<rule>:<hash>]`` (same
secret, same tag, within a session); ``warn`` findings pass and are appended to
``session.state["dlp"]["warnings"]`` as ``{rule, tier, path, fingerprint, ...}`` for the audit log.
Every honeytoken appearance is also appended to ``session.state["dlp"]["alerts"]`` (critical:
the gateway should alert on these). Notifications a server sends use the ``results`` action.

Construction: one Engine per gateway (``engine_from_options(policy.detection)``), one guard
per server (``DlpGuard(policy.detection, server_name, engine)``).
"""

from __future__ import annotations

import fnmatch
import re
from typing import TYPE_CHECKING, Any

import orjson

from mcpwarden.detect import Engine, Finding, HoneyToken, Redactor
from mcpwarden.detect.baseline import Baseline, load_baseline, load_key
from mcpwarden.guards.base import PASS, Deny, Guard, Rewrite, Verdict
from mcpwarden.guards.dlp_options import Action, DetectionOptions, RuleActions, ServerDetection, ToolDetection
from mcpwarden.wire import codes
from mcpwarden.wire.message import strict_json

if TYPE_CHECKING:
    from mcpwarden.gateway.session import Call, Session
    from mcpwarden.wire.message import Message

Direction = str  # "arguments" | "results"
_MAX_NAMED = 5


def engine_from_options(options: DetectionOptions) -> Engine:
    """The one Engine a gateway builds at start-up from ``detection:``."""
    key = load_key(options.key_file)
    tokens = [HoneyToken(t.name, t.value, t.kind) for t in options.honeytokens]
    return Engine.load(
        extra=options.rule_files,
        builtin=options.builtin_rules,
        honeytokens=tokens,
        honeytoken_store=options.honeytoken_store,
        key=key,
        decode=options.decode,
    )


WITHHELD_NAME = "(name withheld: it holds a finding)"


def _what(method: str | None, key: str, tool: str | None, call: Call | None) -> str:
    """How a denial names what it blocked (``method`` and ``tool`` as they may be shown)."""
    if call is not None:
        return f"the {method} {key}" + (f" of tool '{tool}'" if tool else "")
    return f"{method} params" if method != "tools/call" else f"arguments of tool '{tool}'"


_LONG_INTEGER = re.compile(rb"[:,\[]\s*-?[0-9]{19}")
"""Where an integer orjson may read as a float (beyond 64 bits) can begin (or one that merely
looks like it, inside a string: that only costs a slower parse)."""


_UNSCANNED = frozenset({"jsonrpc"})
_UNSCANNED_RESPONSE = frozenset({"jsonrpc", "id"})


def _scope(obj: dict[str, Any], response: bool) -> dict[str, Any]:
    """The members of a message that detection scans (and may redact): all but ``jsonrpc``,
    and a response's ``id``."""
    skip = _UNSCANNED_RESPONSE if response else _UNSCANNED
    return {k: v for k, v in obj.items() if k not in skip}


def _first_glob(table: dict[str, Any], name: str | None) -> Any:
    if name is None:
        return None
    if name in table:
        return table[name]
    for glob, value in table.items():
        if fnmatch.fnmatchcase(name, glob):
            return value
    return None


def _any_glob(globs: list[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, g) for g in globs)


class DlpGuard(Guard):
    name = "dlp"
    methods = None

    def __init__(self, options: DetectionOptions, server: str, engine: Engine):
        self.options = options
        self.server = server
        self.engine = engine
        self.settings: ServerDetection = options.servers.get(server) or ServerDetection()
        self.enabled = self.settings.enabled if self.settings.enabled is not None else options.enabled
        self.baseline: Baseline | None = None
        if options.baseline:
            self.baseline = load_baseline(options.baseline)
            self.baseline.check_key(engine.fingerprint, options.baseline)
        self._allow = list(options.allow_rules) + list(self.settings.allow_rules)
        engine.clean_json_line(b"{}")  # builds (or loads) the clean-line database now, not on the first message
        self.stream_margin = engine.stream_margin if self.enabled else 0

    # -- streaming (see guards.base) -------------------------------------------------------

    def streams(self, method: str) -> bool:
        # A finding can only start within ``stream_margin`` before a byte the clean check
        # objects to; ``check_stream`` passes no such byte, so none of what goes on early can
        # be part of what this guard would block or redact.
        return True

    def check_stream(self, data: bytes) -> bool:
        return not self.enabled or self.engine.clean_json_line(data)

    # -- hooks ---------------------------------------------------------------------------

    def on_request(self, msg: Message, session: Session) -> Verdict:
        if not self.enabled or self._clean(msg):
            return PASS
        # A server's notifications (logs, progress) carry its data towards the client, like results.
        direction = "results" if msg.origin == "server" and msg.kind == "notification" else "arguments"
        return self._judge(msg, "params", direction, msg.tool_name, session, None)

    def on_response(self, msg: Message, call: Call, session: Session) -> Verdict:
        if not self.enabled or self._clean(msg):
            return PASS
        key = "result" if "result" in msg.obj else "error"
        direction = "arguments" if msg.origin == "client" else "results"
        return self._judge(msg, key, direction, call.tool, session, call)

    def shown_name(self, name: str | None) -> str | None:
        """``name`` (a tool's or an argument's, chosen by a peer) as messages and the audit log
        may repeat it: withheld when the engine cannot prove it holds nothing to find."""
        if name is None or not self.enabled:
            return name
        try:
            clean = self.engine.clean_json_line(orjson.dumps(name))
        except orjson.JSONEncodeError:  # a lone surrogate: not worth repeating either
            clean = False
        return name if clean else WITHHELD_NAME

    # -- decisions -----------------------------------------------------------------------

    def _clean(self, msg: Message) -> bool:
        """Most messages: one pass over the line proves there is nothing to find, no walk
        (an over-large line is never clean: ``_judge`` blocks it unscanned)."""
        raw = msg.raw
        return len(raw) <= self.options.max_scan_bytes and self.engine.clean_json_line(raw)

    def _judge(
        self,
        msg: Message,
        key: str,
        direction: Direction,
        tool: str | None,
        session: Session,
        call: Call | None,
    ) -> Verdict:
        raw = msg.raw
        size = len(raw)
        method = self.shown_name(call.method if call is not None else msg.method)
        named = self.shown_name(tool)  # a secret used as the tool's (or method's) name is never repeated
        what = _what(method, key, named, call)
        if size > self.options.max_scan_bytes:
            return Deny(
                f"{what} on server '{self.server}' is {size} bytes, more than "
                f"detection.max_scan_bytes ({self.options.max_scan_bytes}); blocked unscanned",
                "detection.max_scan_bytes",
                code=codes.SECRET_BLOCKED,
            )
        obj = msg.obj
        if _LONG_INTEGER.search(raw):
            # orjson reads an integer beyond 64 bits as a float (``1e+22``), so its digits, which
            # go on as they came, would not be scanned: scan the exact reading instead.
            exact = strict_json(raw)
            obj = exact if isinstance(exact, dict) else obj
        # Every member is forwarded, so every member is scanned: params/result/error, and the
        # method, a request's id and any unknown top-level member (a response's id only echoes
        # the receiver's own request id, and must stay as it is to be matched).
        scope = _scope(obj, call is not None)
        findings = self.engine.scan_json(scope)
        if not findings:
            return PASS
        tool_settings: ToolDetection | None = _first_glob(self.settings.tools, tool)
        decided = [(f, self.action_for(f, direction, tool, tool_settings)) for f in findings]
        honey = [f for f in findings if f.tier == "honeytoken"]
        if honey:
            self._alert(session, honey, direction, named)
        blocking = [f for f, action in decided if action == "block"]
        if blocking:
            return self._deny(blocking, what)
        warned = [f for f, action in decided if action == "warn"]
        if warned:
            self._warn(session, warned, direction, named)
        redacting = [f for f, action in decided if action == "redact"]
        if not redacting:
            return PASS
        rewrite = self._rewrite(obj, scope, redacting, session)
        if obj is not msg.obj:
            try:
                orjson.dumps(rewrite.obj)
            except orjson.JSONEncodeError:  # an integer beyond 64 bits, which orjson does not write
                return Deny(
                    f"{what} on server '{self.server}' holds finding(s) to redact and an integer beyond "
                    "64 bits, which the gateway cannot write back exactly; blocked instead of redacted",
                    f"detection.{redacting[0].rule_id}",
                    code=codes.SECRET_BLOCKED,
                )
        return rewrite

    def action_for(self, finding: Finding, direction: Direction, tool: str | None, tool_settings: Any = None) -> Action:
        """The action policy gives ``finding`` in ``direction`` for ``tool`` on this server."""
        if finding.tier == "honeytoken":
            return "block"
        rule = finding.rule_id
        if _any_glob(self._allow, rule) or (tool_settings is not None and _any_glob(tool_settings.allow_rules, rule)):
            return "off"
        if self.baseline is not None and finding in self.baseline:
            return "off"
        for table in (self.settings.rules, self.options.rules):
            override: RuleActions | None = _first_glob(table, rule)
            if override is not None:
                chosen = getattr(override, direction) or override.action
                if chosen is not None:
                    return chosen
        if finding.tier == "generic":
            return self.settings.generic or self.options.generic
        if finding.tier == "pii":
            return self.settings.pii or self.options.pii
        tool_action = getattr(tool_settings, direction, None) if tool_settings is not None else None
        return tool_action or getattr(self.settings, direction) or getattr(self.options, direction)

    def _deny(self, blocking: list[Finding], what: str) -> Deny:
        named = ", ".join(f"{f.rule_id} ({f.tier}) at {f.path}" for f in blocking[:_MAX_NAMED])
        more = f" and {len(blocking) - _MAX_NAMED} more" if len(blocking) > _MAX_NAMED else ""
        honey = any(f.tier == "honeytoken" for f in blocking)
        kind = "a honeytoken (canary) value" if honey else "secret(s) or sensitive data"
        reason = f"blocked {what} on server '{self.server}': {kind} found: {named}{more}"
        data = {
            "findings": [
                {"rule": f.rule_id, "tier": f.tier, "path": f.path, "fingerprint": f.fingerprint} for f in blocking[:50]
            ]
        }
        return Deny(reason, f"detection.{blocking[0].rule_id}", code=codes.SECRET_BLOCKED, data=data, always=honey)

    def _state(self, session: Session) -> dict[str, Any]:
        state = session.state.setdefault(self.name, {})
        state.setdefault("warnings", [])
        return state

    def _warn(self, session: Session, warned: list[Finding], direction: Direction, tool: str | None) -> None:
        warnings: list[dict[str, Any]] = self._state(session)["warnings"]
        for f in warned:
            warnings.append(
                {
                    "rule": f.rule_id,
                    "tier": f.tier,
                    "path": f.path,
                    "fingerprint": f.fingerprint,
                    "direction": direction,
                    "server": self.server,
                    "tool": tool,
                }
            )
        overflow = len(warnings) - self.options.max_warnings
        if overflow > 0:
            del warnings[:overflow]

    def _alert(self, session: Session, honey: list[Finding], direction: Direction, tool: str | None) -> None:
        alerts: list[dict[str, Any]] = self._state(session).setdefault("alerts", [])
        for f in honey[:50]:
            alerts.append(
                {
                    "rule": f.rule_id,
                    "path": f.path,
                    "fingerprint": f.fingerprint,
                    "direction": direction,
                    "server": self.server,
                    "tool": tool,
                }
            )
        overflow = len(alerts) - self.options.max_warnings
        if overflow > 0:
            del alerts[:overflow]

    def _rewrite(
        self, obj: dict[str, Any], scope: dict[str, Any], redacting: list[Finding], session: Session
    ) -> Rewrite:
        state = self._state(session)
        redactor = state.get("redactor")
        if redactor is None:
            redactor = state["redactor"] = Redactor()
        new_obj = {k: v for k, v in obj.items() if k not in scope}
        new_obj.update(redactor.redact_json(scope, redacting))
        rules = sorted({f.rule_id for f in redacting})
        note = f"redacted {len(redacting)} finding(s): {', '.join(rules[:_MAX_NAMED])}"
        return Rewrite(new_obj, f"detection.{redacting[0].rule_id}", note=note, findings=tuple(redacting))
