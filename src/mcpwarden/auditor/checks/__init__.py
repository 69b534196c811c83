"""The checks, one module per concern. ``ALL`` lists them in report order; each is a function
``check(inventory, context) -> Iterable[Finding]``. Metadata (id, severity, explanation, fix)
lives in catalog.py, so reporters and SARIF rules come from one table."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from mcpwarden.auditor.checks import (
    bypass,
    commands,
    confirmations,
    filesystem,
    introspection,
    malformed,
    permissions,
    pinning,
    poisoning,
    policy_lint,
    secrets,
    skills,
    sources,
    usage,
)
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory

Check = Callable[[Inventory, Context], Iterable[Finding]]

ALL: list[Check] = [
    malformed.check,
    filesystem.check,
    secrets.check,
    pinning.check,
    sources.check,
    commands.check,
    confirmations.check,
    bypass.check,
    usage.check,
    permissions.check,
    skills.check,
    poisoning.check,
    introspection.check,
    policy_lint.check,
]
