"""Loading rule files: the built-in ones shipped in ``detect/rules/``, and users' files in
the mcpwarden format (``[[rule]]``) or the gitleaks format (``[[rules]]``)."""

from __future__ import annotations

import dataclasses
import functools
import tomllib
from pathlib import Path
from typing import Any

import orjson

from mcpwarden.detect.rule import Rule, rule_from_table
from mcpwarden.errors import DetectError

RULES_DIR = Path(__file__).with_name("rules")
MAX_RULE_FILE_BYTES = 8 * 1024 * 1024


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_RULE_FILE_BYTES:
            raise DetectError(f"{path}: rule file is {size} bytes; the limit is {MAX_RULE_FILE_BYTES}")
        raw = path.read_bytes()
    except OSError as exc:
        raise DetectError(f"{path}: cannot read rule file: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DetectError(f"{path}: rule file is not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise DetectError(f"{path}: not valid TOML: {exc}") from None


def parse_rules(data: dict[str, Any], source: str, check_examples: bool = False) -> list[Rule]:
    """Rules of one parsed TOML document, in either format."""
    if "rule" in data:
        unknown = sorted(set(data) - {"rule"})
        if unknown:
            raise DetectError(f"{source}: unknown top-level key(s) {', '.join(unknown)} (expected only [[rule]])")
        tables = data["rule"]
        if not isinstance(tables, list):
            raise DetectError(f"{source}: 'rule' must be an array of tables ([[rule]])")
        rules = [rule_from_table(t, source) for t in tables]
    elif "rules" in data:
        from mcpwarden.detect.gitleaks import rules_from_gitleaks

        rules = rules_from_gitleaks(data, source)
    else:
        raise DetectError(f"{source}: no [[rule]] (mcpwarden) or [[rules]] (gitleaks) tables found")
    ids = [r.id for r in rules]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise DetectError(f"{source}: rule id(s) defined more than once: {', '.join(dupes)}")
    if check_examples:
        for rule in rules:
            check_rule_examples(rule)
    return rules


def load_rule_file(path: str | Path, check_examples: bool = False) -> list[Rule]:
    path = Path(path)
    return parse_rules(_read_toml(path), str(path), check_examples)


def check_rule_examples(rule: Rule) -> None:
    """Every ``match`` example yields a finding of ``rule``; no ``no_match`` example does."""
    from mcpwarden.detect.engine import Engine

    engine = Engine([rule], decode=False)
    for i, example in enumerate(rule.examples_match):
        if not any(f.rule_id == rule.id for f in engine.scan_text(example)):
            raise DetectError(f"{rule.source}: rule {rule.id!r}: examples.match[{i}] does not match")
    for i, example in enumerate(rule.examples_no_match):
        if any(f.rule_id == rule.id for f in engine.scan_text(example)):
            raise DetectError(f"{rule.source}: rule {rule.id!r}: examples.no_match[{i}] matches")


def builtin_rule_files() -> list[Path]:
    """The shipped rule files; names starting with '_' are samples, not loaded."""
    return sorted(p for p in RULES_DIR.glob("*.toml") if not p.name.startswith("_"))


@functools.lru_cache(maxsize=1)
def _builtin_cached() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for path in builtin_rule_files():
        rules.extend(load_rule_file(path))
    return tuple(rules)


def builtin_rules() -> list[Rule]:
    return list(_builtin_cached())


_FIELDS = tuple(f.name for f in dataclasses.fields(Rule))
_TUPLE_FIELDS = frozenset(f.name for f in dataclasses.fields(Rule) if str(f.type).startswith("tuple"))


def rules_to_bytes(rules: list[Rule]) -> bytes:
    """A compact table of validated rules (for the start-up cache)."""
    return orjson.dumps({"fields": _FIELDS, "rules": [[getattr(r, name) for name in _FIELDS] for r in rules]})


def rules_from_bytes(payload: bytes) -> list[Rule]:
    """The rules of ``rules_to_bytes``; raises ValueError when the table does not fit ``Rule``."""
    try:
        table = orjson.loads(payload)
        if table["fields"] != list(_FIELDS):
            raise ValueError("rule table fields differ")
        out = []
        for row in table["rules"]:
            values = dict(zip(_FIELDS, row, strict=True))
            for name in _TUPLE_FIELDS:
                values[name] = tuple(values[name])
            out.append(Rule(**values))
        return out
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f"bad rule table: {exc}") from None
