"""The guards, and the one place that sets their order.

Order (requests and responses alike):

1. ``tools``: tool allow/deny globs, read-only mode, tools/list filtering.
2. ``dlp``: secrets, PII and honeytokens (block in arguments, redact in results).

Later guards (auth, roles, rate limits, paths, arguments, egress, pinning, poisoning,
taint) slot into this list; the pipeline knows nothing about what each one does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mcpwarden.errors import DetectError
from mcpwarden.guards.base import PASS, Deny, Guard, Pass, Rewrite, Verdict
from mcpwarden.guards.tools import ToolsGuard, ToolsOptions

if TYPE_CHECKING:
    from mcpwarden.policy.schema import Policy, ServerPolicy

__all__ = ["GUARD_ORDER", "PASS", "Deny", "Guard", "Pass", "Rewrite", "Verdict", "build_guards"]

GUARD_ORDER = ("tools", "dlp")


def build_guards(
    policy: Policy, name: str, server: ServerPolicy, engine: Any = None, skill_tools: ToolsOptions | None = None
) -> list[Guard]:
    """Compile the guards for one server, in GUARD_ORDER. ``skill_tools`` is the tool grant of
    a skill the session runs under (``run --skill``): a second tools guard, so both must allow."""
    prefix = f"servers.{name}" if name in policy.servers else "defaults"
    dlp: Guard | None = None
    if policy.detection.enabled:
        from mcpwarden.guards.dlp import DlpGuard

        if engine is None:
            raise DetectError("detection is enabled but no detection engine was loaded")
        dlp = DlpGuard(policy.detection, name, engine)
    shown = getattr(dlp, "shown_name", None)  # a secret used as a tool's name is not repeated in denials
    guards: list[Guard] = [ToolsGuard(server.tools, name, f"{prefix}.tools", shown)]
    if skill_tools is not None:
        guards.append(ToolsGuard(skill_tools, name, "skill.tools", shown))
    if dlp is not None:
        guards.append(dlp)
    return guards
