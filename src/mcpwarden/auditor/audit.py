"""Run an audit: discover, check, apply the baseline, sort."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mcpwarden.auditor.baseline import Baseline
from mcpwarden.auditor.checks import ALL
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.discovery import discover
from mcpwarden.auditor.model import SEVERITY_ORDER, Finding, Inventory
from mcpwarden.auditor.target import Target

if TYPE_CHECKING:
    from mcpwarden.auditor.introspect import Introspection, IntrospectOptions


@dataclass
class Report:
    inventory: Inventory
    findings: list[Finding] = field(default_factory=list)
    engine: str = "fallback"
    introspection: list[Introspection] | None = None  # None: --introspect was not given

    def active(self) -> list[Finding]:
        return [f for f in self.findings if not f.suppressed]

    def counts(self) -> dict[str, int]:
        counts = {s: 0 for s in SEVERITY_ORDER}
        for finding in self.active():
            counts[finding.severity] += 1
        return counts


def run_audit(
    target: Target,
    clients: list[str] | None = None,
    baseline: Path | None = None,
    introspect: IntrospectOptions | None = None,
) -> Report:
    """Discover, (with ``introspect``) start servers in the sandbox to cache their tool lists,
    then run every check."""
    inventory = discover(target, clients)
    ctx = Context(target=target, inventory=inventory)
    if introspect is not None:
        from mcpwarden.auditor.introspect import introspect_all

        ctx.introspection = introspect_all(inventory, target.home, introspect)
    findings: list[Finding] = []
    seen: set[str] = set()
    for check in ALL:
        for finding in check(inventory, ctx):
            if finding.fingerprint not in seen:
                seen.add(finding.fingerprint)
                findings.append(finding)
    if baseline is not None:
        Baseline.load(baseline).apply(findings)
    findings.sort(key=lambda f: (f.client, f.path, f.server or "", -SEVERITY_ORDER[f.severity], f.line or 0, f.check))
    from mcpwarden.auditor import secrets

    if not inventory.files:
        where = ", ".join([str(target.home), *(str(p) for p in target.projects[:3])])
        inventory.notes.append(f"no MCP client config, skill or policy found (looked under {where})")
    if ctx.scanner.engine is None and secrets.ENGINE_PROBLEM:
        inventory.notes.append(secrets.ENGINE_PROBLEM)
    return Report(
        inventory=inventory,
        findings=findings,
        engine="detect" if ctx.scanner.engine else "fallback",
        introspection=ctx.introspection if introspect is not None else None,
    )
