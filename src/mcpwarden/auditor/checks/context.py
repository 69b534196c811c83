"""What checks share: the target, the secret scanner, and a helper that builds a Finding."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from mcpwarden.auditor.checks.catalog import info
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory, KeyPath, ServerEntry, Severity, dotted
from mcpwarden.auditor.secrets import SecretScanner
from mcpwarden.auditor.target import Target

if TYPE_CHECKING:
    from mcpwarden.auditor.introspect import Introspection


@dataclass
class Context:
    target: Target
    inventory: Inventory
    scanner: SecretScanner = field(default_factory=SecretScanner)
    introspection: list[Introspection] = field(default_factory=list)  # with --introspect only

    def finding(
        self,
        check: str,
        config: ConfigFile,
        key: KeyPath,
        message: str,
        server: ServerEntry | None = None,
        detail: str = "",
        severity: Severity | None = None,
        line: int | None = None,
    ) -> Finding:
        return Finding(
            check=check,
            severity=severity or info(check).severity,
            message=message,
            client=config.client,
            scope=server.scope if server else config.scope,
            path=self.inventory.display(config.path),
            line=line if line is not None else config.line_of(key),
            key=dotted(key),
            server=server.name if server else None,
            detail=detail,
            file_path=str(config.path),
        )
