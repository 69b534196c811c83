"""``--format json``: schema ``mcpwarden.audit/1``, documented in docs/auditor.md. Holds no
secret values and no full command lines (arguments can hold secrets): commands by name,
URLs by scheme and host."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from mcpwarden import __version__
from mcpwarden.auditor.audit import Report
from mcpwarden.auditor.checks.args import basename
from mcpwarden.auditor.checks.catalog import info
from mcpwarden.auditor.model import dotted

SCHEMA = "mcpwarden.audit/1"


def _url(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def document(report: Report) -> dict[str, Any]:
    inv = report.inventory
    active = report.active()
    document = {
        "schema": SCHEMA,
        "tool": {"name": "mcpwarden", "version": __version__},
        "engine": report.engine,
        "notes": list(inv.notes),
        "summary": {
            "files": len(inv.files),
            "servers": len(inv.servers),
            "servers_loading": sum(1 for s in inv.servers if s.loads),
            "servers_unguarded": sum(1 for s in inv.servers if s.loads and not s.wrapped and s.client != "mcpwarden"),
            "findings": len(active),
            "suppressed": len(report.findings) - len(active),
            "by_severity": report.counts(),
        },
        "files": [
            {"client": f.client, "scope": f.scope, "path": inv.display(f.path), "kind": f.kind, "error": f.error}
            for f in inv.files
        ],
        "servers": [
            {
                "client": s.client,
                "scope": s.scope,
                "name": s.name,
                "path": inv.display(s.file.path),
                "line": s.file.line_of(s.key),
                "key": dotted(s.key),
                "transport": s.transport,
                "command": basename(s.command) or None,
                "url": _url(s.url),
                "loads": s.loads,
                "why": s.why,
                "wrapped": s.wrapped,
            }
            for s in inv.servers
        ],
        "findings": [
            {
                "id": f.check,
                "name": info(f.check).name,
                "severity": f.severity,
                "message": f.message,
                "client": f.client,
                "scope": f.scope,
                "server": f.server,
                "path": f.path,
                "line": f.line,
                "key": f.key,
                "fingerprint": f.fingerprint,
                "suppressed": f.suppressed,
                "fix": info(f.check).fix,
            }
            for f in report.findings
        ],
    }
    if report.introspection is not None:
        document["introspection"] = introspection(report)
    return document


def introspection(report: Report) -> list[dict[str, Any]]:
    """One entry per introspected server: status, reason, tool names and the cache file."""
    inv = report.inventory
    return [
        {
            "client": r.server.client,
            "scope": r.server.scope,
            "server": r.server.name,
            "path": inv.display(r.server.file.path),
            "status": r.status,
            "reason": r.reason or None,
            "tools": len(r.tools),
            "tool_names": [t["name"] for t in r.tools],
            "pages": r.pages,
            "protocol_version": r.protocol_version,
            "cache": inv.display(r.cache) if r.cache else None,
            "seconds": r.seconds,
            "notes": list(r.notes),
        }
        for r in report.introspection or []
    ]


def render(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False) + "\n"
