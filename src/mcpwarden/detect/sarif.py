"""``mcpwarden scan --format sarif``: SARIF 2.1.0 as GitHub code scanning accepts it.

One rule entry per rule that found something (id, name, descriptions, help, level and
``security-severity``), results with a relative ``physicalLocation`` (line and column
region), and ``partialFingerprints`` holding the finding's keyed fingerprint so an alert
follows the secret, not the line. No secret value appears anywhere.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from mcpwarden import __version__
from mcpwarden.detect.rule import Rule
from mcpwarden.detect.sources import Located

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}


def _rule_entry(rule_id: str, rule: Rule | None, severity: str, description: str) -> dict[str, Any]:
    text = rule.description if rule else description or rule_id
    family = rule.family if rule else "honeytoken"
    return {
        "id": rule_id,
        "name": "".join(part.capitalize() for part in rule_id.replace(".", "-").split("-")),
        "shortDescription": {"text": text},
        "fullDescription": {"text": f"{text} (family: {family})."},
        "help": {
            "text": f"{text}. Remove the value from the file, rotate the credential, and load it from a secret "
            "store or environment variable instead.",
        },
        "defaultConfiguration": {"level": LEVEL.get(severity, "warning")},
        "properties": {
            "tags": ["security", "secret", family],
            "security-severity": SECURITY_SEVERITY.get(severity, "5.5"),
        },
    }


def _artifact(source: str, root: Path) -> dict[str, Any]:
    if source == "-":
        return {"uri": "stdin"}
    path = Path(source)
    try:
        relative = path.resolve().relative_to(root.resolve())
        return {"uri": quote(relative.as_posix()), "uriBaseId": "%SRCROOT%"}  # a URI: ' ', '#', '%' escaped
    except (ValueError, OSError):
        return {"uri": path.resolve().as_uri()}


def document(located: list[Located], rules: dict[str, Rule], root: Path | None = None) -> dict[str, Any]:
    root = root or Path(os.getcwd())
    order: dict[str, int] = {}
    entries: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for item in located:
        f = item.finding
        if f.rule_id not in order:
            order[f.rule_id] = len(entries)
            entries.append(_rule_entry(f.rule_id, rules.get(f.rule_id), f.severity, f.description))
        encoded = f" (hidden as {f.encoding})" if f.encoding else ""
        results.append(
            {
                "ruleId": f.rule_id,
                "ruleIndex": order[f.rule_id],
                "level": LEVEL.get(f.severity, "warning"),
                "message": {"text": f"{f.description or f.rule_id}: {f.tier} finding{encoded}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": _artifact(item.source, root),
                            "region": {
                                "startLine": item.line,
                                "startColumn": item.column,
                                "endLine": item.end_line,
                                "endColumn": item.end_column,
                            },
                        }
                    }
                ],
                "partialFingerprints": {"mcpwardenSecret/v1": f.fingerprint},
                "properties": {"tier": f.tier, "family": f.family},
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mcpwarden",
                        "informationUri": "https://github.com/mcpwarden/mcpwarden",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": entries,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": root.resolve().as_uri() + "/"}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
