"""AUD001: files that could not be read or parsed. The audit goes on without them."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory

_LINE = re.compile(r"line (\d+)")


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for config in inventory.files:
        if config.error is None:
            continue
        match = _LINE.search(config.error)
        line = int(match.group(1)) if match else 1
        yield ctx.finding("AUD001", config, (), f"{config.kind.upper()} file skipped: {config.error}", line=line)
