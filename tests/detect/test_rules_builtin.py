"""Every shipped rule loads and keeps the promises of its own examples, through the engine."""

from __future__ import annotations

import pytest

from mcpwarden.detect import Engine
from mcpwarden.detect.rule import Rule
from mcpwarden.detect.ruleset import builtin_rules, check_rule_examples

RULES = builtin_rules()


def test_builtin_rules_load_with_unique_ids() -> None:
    assert RULES, "no built-in rules found"
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert Engine.load().rules


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule_examples(rule: Rule) -> None:
    check_rule_examples(rule)
