"""AUD130: a server that ``--introspect`` could not list (did not start, timed out, refused by
the sandbox). The audit goes on with the others; this finding says whose tools went unchecked."""

from __future__ import annotations

from collections.abc import Iterator

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for result in ctx.introspection:
        if result.ok:
            continue
        server = result.server
        yield ctx.finding(
            "AUD130",
            server.file,
            server.key,
            f"introspection {result.status}: {result.reason}",
            server=server,
            detail=result.status,
        )
