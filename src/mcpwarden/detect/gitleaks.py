"""Reading gitleaks rule files (``[[rules]]``), so teams can reuse what they have.

Each gitleaks rule becomes an mcpwarden rule with id ``gitleaks.<id>``, family
``gitleaks``, severity ``high``, tier ``generic`` when its id says generic (else
``pattern``), its keywords, regex (Go RE2 syntax brought to the common dialect: a ``(?i)``
in the middle moves to the front, POSIX classes are spelled out), ``secretGroup``,
``entropy`` and allowlist regexes and stopwords (rule and global; ``paths`` and ``commits``
do not apply to messages and are ignored). Rules without keywords or without a regex
(path-only rules) cannot be gated and are skipped; ``skipped`` lists them.
"""

from __future__ import annotations

import re
from typing import Any

from mcpwarden.detect.rule import Rule, rule_from_table
from mcpwarden.errors import DetectError

_POSIX = {
    "[:alnum:]": "A-Za-z0-9",
    "[:alpha:]": "A-Za-z",
    "[:digit:]": "0-9",
    "[:xdigit:]": "0-9A-Fa-f",
    "[:upper:]": "A-Z",
    "[:lower:]": "a-z",
    "[:space:]": r"\s",
    "[:word:]": r"\w",
    "[:punct:]": r"!-/:-@\[-`{-~",
}
_INLINE_I = re.compile(r"\(\?i\)")

skipped: list[str] = []
"""Ids of the gitleaks rules the last read skipped, and why."""


def go_regex_to_dialect(pattern: str) -> str:
    """Bring a Go RE2 regex to the common dialect (best effort; the rule check decides)."""
    for posix, spelled in _POSIX.items():
        pattern = pattern.replace(posix, spelled)
    if _INLINE_I.search(pattern) and not pattern.startswith("(?i)"):
        pattern = "(?i)" + _INLINE_I.sub("", pattern)
    return pattern.replace(r"\z", r"\Z")


def _allowlist_parts(value: Any) -> tuple[list[str], list[str]]:
    regexes: list[str] = []
    stopwords: list[str] = []
    tables = value if isinstance(value, list) else [value] if isinstance(value, dict) else []
    for table in tables:
        if not isinstance(table, dict) or table.get("regexTarget", "secret") != "secret":
            continue
        regexes.extend(go_regex_to_dialect(r) for r in table.get("regexes", []) if isinstance(r, str))
        stopwords.extend(str(s).lower() for s in table.get("stopwords", []) if isinstance(s, str))
    return regexes, stopwords


def rules_from_gitleaks(data: dict[str, Any], source: str) -> list[Rule]:
    tables = data.get("rules")
    if not isinstance(tables, list):
        raise DetectError(f"{source}: gitleaks 'rules' must be an array of tables ([[rules]])")
    global_regexes, global_stopwords = _allowlist_parts(data.get("allowlist"))
    g2, s2 = _allowlist_parts(data.get("allowlists"))
    global_regexes += g2
    global_stopwords += s2
    skipped.clear()
    rules: list[Rule] = []
    for i, table in enumerate(tables):
        if not isinstance(table, dict):
            raise DetectError(f"{source}: rules[{i}] must be a table")
        gid = str(table.get("id", f"rule-{i}"))
        keywords = [str(k).lower() for k in table.get("keywords", []) if str(k)]
        regex = table.get("regex")
        if not isinstance(regex, str) or not regex:
            skipped.append(f"{gid}: no regex (path-only rules do not apply to messages)")
            continue
        if not keywords:
            skipped.append(f"{gid}: no keywords, so it cannot be gated")
            continue
        regexes, stopwords = _allowlist_parts(table.get("allowlists", table.get("allowlist")))
        regexes += global_regexes
        stopwords += global_stopwords
        ours: dict[str, Any] = {
            "id": "gitleaks." + re.sub(r"[^a-z0-9]+", "-", gid.lower()).strip("-"),
            "description": str(table.get("description") or gid),
            "family": "gitleaks",
            "severity": "high",
            "keywords": keywords,
            "regex": go_regex_to_dialect(regex),
            "tier": "generic" if "generic" in gid.lower() else "pattern",
        }
        group = table.get("secretGroup")
        if isinstance(group, int) and group > 0:
            ours["secret_group"] = group
        if isinstance(table.get("entropy"), int | float):
            ours["entropy"] = float(table["entropy"])
        if regexes or stopwords:
            ours["allowlist"] = {"regexes": regexes, "stopwords": stopwords}
        rules.append(rule_from_table(ours, source, need_examples=False))
    return rules
