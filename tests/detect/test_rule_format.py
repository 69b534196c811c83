"""A rule that breaks the format fails at load, and the message names the rule's id."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mcpwarden.detect import Engine
from mcpwarden.detect.rule import dialect_problem, rule_from_table
from mcpwarden.detect.ruleset import load_rule_file, parse_rules
from mcpwarden.errors import DetectError


def good(**changes: Any) -> dict[str, Any]:
    table: dict[str, Any] = {
        "id": "demo-token",
        "description": "Demo token",
        "family": "saas",
        "severity": "high",
        "keywords": ["demo_"],
        "regex": r"\b(demo_[a-z0-9]{24})\b",
        "examples": {"match": ["t = demo_q8w7e6r5t4y3u2i1o9p8a7s6"], "no_match": ["demo_short"]},
    }
    table.update(changes)
    return {k: v for k, v in table.items() if v is not None}


def test_a_good_rule_loads_with_defaults() -> None:
    rule = rule_from_table(good(), "t.toml")
    assert rule.secret_group == 1 and rule.tier == "pattern" and rule.max_width == 29


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Bad_ID"}, "kebab-case"),
        ({"keywords": []}, "keywords"),
        ({"keywords": ["Demo_"]}, "lower-case"),
        ({"regex": r"(demo_)(?=x)"}, "lookahead"),
        ({"regex": r"(demo_)\1"}, "backreference"),
        ({"regex": r"(demo_(?:[a-z]+)+)"}, "nests unbounded"),
        ({"regex": r"(demo_a*+)"}, "possessive"),
        ({"regex": r"(demo_[a-z]{1,2000})"}, "RE2"),
        ({"regex": "(demo_é)"}, "ASCII"),
        ({"regex": "(demo_["}, "does not compile"),
        ({"validator": "no-such-check"}, "unknown validator"),
        ({"secret_group": 3}, "secret_group"),
        ({"severity": "urgent"}, "severity"),
        ({"tier": "validated"}, "tier"),
        ({"entropy": 9}, "entropy"),
        ({"colour": "red"}, "unknown key"),
        ({"allowlist": {}}, "allowlist is empty"),
        ({"allowlist": {"regexes": ["("]}}, "allowlist regex"),
        ({"examples": None}, "examples"),
        ({"examples": {"match": []}}, "at least one"),
        ({"probe": "(?=x)"}, "probe: regex uses lookahead"),
    ],
)
def test_bad_rules_fail_naming_their_id(changes: dict[str, Any], message: str) -> None:
    table = good(**changes)
    with pytest.raises(DetectError) as err:
        rule_from_table(table, "t.toml")
    text = str(err.value)
    assert "t.toml" in text and message in text
    if "id" not in changes:
        assert "'demo-token'" in text


def test_dialect_accepts_the_common_subset() -> None:
    assert dialect_problem(r"(?i)\b(ghp_[A-Za-z0-9]{36})\b") is None
    assert dialect_problem(r"(?:[a-z0-9-]{1,63}\.){1,8}[a-z]{2,24}") is None


def test_duplicate_ids_fail(tmp_path: Path) -> None:
    one = rule_from_table(good(), "a.toml")
    two = rule_from_table(good(), "b.toml")
    with pytest.raises(DetectError, match=r"defined twice: in a\.toml and b\.toml"):
        Engine([one, two])
    with pytest.raises(DetectError, match="more than once"):
        parse_rules({"rule": [good(), good()]}, "c.toml")


def test_examples_are_checked_for_user_rule_files(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[[rule]]\nid = "demo-token"\ndescription = "d"\nfamily = "saas"\nseverity = "high"\n'
        "keywords = [\"demo_\"]\nregex = '''\\b(demo_[a-z0-9]{24})\\b'''\n"
        '[rule.examples]\nmatch = ["demo_tooshort"]\n'
    )
    with pytest.raises(DetectError, match=r"'demo-token': examples.match\[0\] does not match"):
        Engine.load(builtin=False, extra=[path])


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="cannot read"):
        load_rule_file(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rule]\n")
    with pytest.raises(DetectError, match="not valid TOML"):
        load_rule_file(bad)
    empty = tmp_path / "empty.toml"
    empty.write_text("title = 'x'\n")
    with pytest.raises(DetectError, match="no \\[\\[rule\\]\\]"):
        load_rule_file(empty)


def test_sample_file_parses_as_toml() -> None:
    from .conftest import EXAMPLE_RULES

    data = tomllib.loads(EXAMPLE_RULES.read_text())
    assert len(load_rule_file(EXAMPLE_RULES, check_examples=True)) == len(data["rule"])
