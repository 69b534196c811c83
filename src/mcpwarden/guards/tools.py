"""Tool access per server: allow/deny globs, read-only mode, and a tools/list that hides
what may not run.

``allow`` and ``deny`` are shell-style globs (``*``, ``?``, ``[abc]``) matched
case-sensitively against the tool name; deny wins. In read-only mode a tool may run only
if the server annotates it ``readOnlyHint: true`` in ``tools/list`` or it matches ``reads``;
a tool the gateway has not seen listed is not known to be read-only, so it is denied.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field

from mcpwarden.guards.base import PASS, Deny, Guard, Rewrite, Verdict
from mcpwarden.policy.base import StrictModel
from mcpwarden.wire.message import case_variant

if TYPE_CHECKING:
    from mcpwarden.gateway.session import Call, Session
    from mcpwarden.wire.message import Message


class ToolsOptions(StrictModel):
    allow: list[str] = Field(default_factory=lambda: ["*"], description="Globs of tools that may run.")
    deny: list[str] = Field(default_factory=list, description="Globs of tools that may not run; deny wins.")
    read_only: bool = Field(False, description="Only tools annotated readOnlyHint: true or listed in `reads` run.")
    reads: list[str] = Field(default_factory=list, description="Globs of tools treated as reads in read-only mode.")


class _Globs:
    """A list of globs compiled into one regex; remembers which glob matched, for messages.
    ``ignore_case`` for deny lists: ``*delete*`` must also stop ``DeleteFile`` (denying more is
    the safe side; allow and reads lists match case-sensitively, since allowing more is not)."""

    __slots__ = ("globs", "regex")

    def __init__(self, globs: list[str], ignore_case: bool = False):
        self.globs = list(globs)
        flags = re.IGNORECASE if ignore_case else 0
        self.regex = re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs), flags) if globs else None

    def match(self, name: str) -> bool:
        return self.regex is not None and self.regex.match(name) is not None

    def which(self, name: str) -> tuple[int, str] | None:
        if self.regex is None:
            return None
        for i, glob in enumerate(self.globs):
            if re.compile(fnmatch.translate(glob), self.regex.flags).match(name):
                return i, glob
        return None


_CALL_MEMBERS = frozenset({"name", "arguments"})


class ToolsGuard(Guard):
    name = "tools"
    methods = frozenset({"tools/call", "tools/list", "notifications/tools/list_changed"})

    def __init__(
        self,
        options: ToolsOptions,
        server: str,
        rule_prefix: str,
        shown_name: Callable[[str], str | None] | None = None,
    ):
        self.shown_name = shown_name
        """How a denial may repeat a tool's (peer-chosen) name: detection's, which withholds a
        name holding a secret; None repeats it as it is."""
        self.needs_tool_list = options.read_only
        """Read-only mode needs the server's annotations before the first call: the gateway
        fetches tools/list itself when the client calls a tool before listing them all."""
        self.server = server
        self.prefix = rule_prefix
        self.allow = _Globs(options.allow)
        self.deny = _Globs(options.deny, ignore_case=True)
        self.read_only = options.read_only
        self.reads = _Globs(options.reads)

    def _named(self, tool: str) -> str | None:
        return tool if self.shown_name is None else self.shown_name(tool)

    def _refusal(self, tool: str, session: Session) -> Deny | None:
        if self.deny.match(tool):
            i, glob = self.deny.which(tool) or (0, "?")
            return Deny(
                f"tool '{self._named(tool)}' on server '{self.server}' matches deny pattern '{glob}'",
                f"{self.prefix}.deny[{i}]",
            )
        if not self.allow.match(tool):
            return Deny(
                f"tool '{self._named(tool)}' on server '{self.server}' is not in the allow list", f"{self.prefix}.allow"
            )
        if self.read_only and not self.reads.match(tool):
            hints = session.state.get(self.name, {}).get("hints", {})
            if hints.get(tool) is not True:
                why = "is not annotated readOnlyHint: true" if tool in hints else "has not been listed by the server"
                return Deny(
                    f"server '{self.server}' is read-only and tool '{self._named(tool)}' {why}",
                    f"{self.prefix}.read_only",
                )
        return None

    @staticmethod
    def listing_complete(session: Session) -> bool:
        return bool(session.state.get(ToolsGuard.name, {}).get("complete"))

    def on_request(self, msg: Message, session: Session) -> Verdict:
        if msg.method == "notifications/tools/list_changed" and msg.origin == "server":
            # What was learnt from earlier listings may be stale: learn it again before a
            # read-only call runs (the gateway lists the tools itself when needed).
            session.state[self.name] = {"hints": {}, "complete": False}
            return PASS
        if msg.method != "tools/call" or msg.origin != "client":
            return PASS
        variant = case_variant(msg.params, _CALL_MEMBERS)  # "NAME" could be the tool a server runs
        if variant is not None:
            return Deny(
                f"tools/call params hold {variant!r}, which differs from {variant.casefold()!r} only in case",
                f"{self.prefix}.allow",
            )
        tool = msg.tool_name
        if tool is None:
            return Deny("tools/call without a tool name", f"{self.prefix}.allow")
        return self._refusal(tool, session) or PASS

    def streams(self, method: str) -> bool:
        return method != "tools/list"  # a listing may lose denied tools: it is held whole

    def on_response(self, msg: Message, call: Call, session: Session) -> Verdict:
        if call.method != "tools/list":
            return PASS
        result = msg.obj.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return PASS
        state = session.state.setdefault(self.name, {"hints": {}, "complete": False})
        if "cursor" not in call.arg_keys:  # a first page: a listing starts over, dropped tools go
            state["hints"] = {}
            state["complete"] = False
        hints: dict[str, bool] = state["hints"]
        if not result.get("nextCursor"):
            state["complete"] = True
        kept: list[Any] = []
        hidden: list[str] = []
        for tool in result["tools"]:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str):
                hidden.append("<unnamed>")
                continue
            annotations = tool.get("annotations")
            hints[name] = isinstance(annotations, dict) and annotations.get("readOnlyHint") is True
            if self._refusal(name, session) is None:
                kept.append(tool)
            else:
                hidden.append(name)
        if not hidden:
            return PASS
        new_result = dict(result)
        new_result["tools"] = kept
        obj = dict(msg.obj)
        obj["result"] = new_result
        return Rewrite(obj, f"{self.prefix}", note=f"hid {len(hidden)} tool(s): {', '.join(hidden[:20])}")
