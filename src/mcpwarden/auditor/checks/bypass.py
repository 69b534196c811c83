"""AUD070: servers that load and run without mcpwarden in between."""

from __future__ import annotations

from collections.abc import Iterator

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for server in inventory.servers:
        if server.client == "mcpwarden" or server.wrapped or not server.loads:
            continue
        if server.transport == "stdio":
            message = f"server '{server.name}' runs unguarded (not through `mcpwarden run`)"
        else:
            message = (
                f"remote server '{server.name}' is reached directly; mcpwarden has no HTTP front yet, "
                "so `protect` leaves it as it is"
            )
        yield ctx.finding("AUD070", server.file, server.key, message, server, detail=server.transport)
