"""``--format sarif``: SARIF 2.1.0 as GitHub code scanning accepts it: rules with metadata and
``security-severity``, results with file locations (line numbers), ``partialFingerprints``
that do not move with lines, and baseline suppressions kept as ``suppressions``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mcpwarden import __version__
from mcpwarden.auditor.audit import Report
from mcpwarden.auditor.checks.catalog import CATALOG, CheckInfo

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}


def _rule(check: CheckInfo) -> dict[str, Any]:
    return {
        "id": check.id,
        "name": "".join(part.capitalize() for part in check.name.split("-")),
        "shortDescription": {"text": check.title},
        "fullDescription": {"text": check.explanation},
        "help": {
            "text": f"{check.explanation}\n\nFix: {check.fix}",
            "markdown": f"{check.explanation}\n\n**Fix:** {check.fix}",
        },
        "defaultConfiguration": {"level": LEVEL[check.severity]},
        "properties": {
            "tags": ["security", "mcp"],
            "security-severity": SECURITY_SEVERITY[check.severity],
            "precision": "high",
        },
    }


def _location(file_path: str, line: int | None, root: Path) -> dict[str, Any]:
    path = Path(file_path)
    try:
        relative = path.resolve().relative_to(root.resolve()) if path.is_absolute() else path
        artifact: dict[str, Any] = {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}  # ' ', '#' escaped
    except (ValueError, OSError, RuntimeError):  # outside the root, or a symlink loop
        artifact = {"uri": path.absolute().as_uri() if path.is_absolute() else quote(path.as_posix())}
    physical: dict[str, Any] = {"artifactLocation": artifact}
    physical["region"] = {"startLine": max(1, line or 1)}
    return {"physicalLocation": physical}


def document(report: Report, root: Path | None = None) -> dict[str, Any]:
    root = root or Path(os.getcwd())
    rules = sorted(CATALOG.values(), key=lambda c: c.id)
    index = {rule.id: i for i, rule in enumerate(rules)}
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.check,
            "ruleIndex": index[finding.check],
            "level": LEVEL[finding.severity],
            "message": {"text": finding.message},
            "locations": [_location(finding.file_path or finding.path, finding.line, root)],
            "partialFingerprints": {"mcpwardenFinding/v1": finding.fingerprint},
            "properties": {
                "client": finding.client,
                "scope": finding.scope,
                "server": finding.server or "",
                "key": finding.key,
                "displayPath": finding.path,
            },
        }
        if finding.suppressed:
            result["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": "listed in the mcpwarden audit baseline"}
            ]
        results.append(result)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mcpwarden",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": [_rule(r) for r in rules],
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
                "results": results,
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def render(report: Report, root: Path | None = None) -> str:
    return json.dumps(document(report, root), indent=2, ensure_ascii=False) + "\n"
