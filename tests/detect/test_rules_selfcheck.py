"""Checks of the shipped credential rule files that need no engine: every rule is well formed,
compiles in each regex dialect we target (Python ``re``, and RE2/Hyperscan when installed),
finds a secret in each of its ``match`` examples and none in its ``no_match`` examples.

The engine's own loader re-checks the format; this test keeps the rule data honest on its own.
"""

from __future__ import annotations

import math
import re
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mcpwarden.detect.rule import _RULE_KEYS

RULES_DIR = Path(__file__).resolve().parents[2] / "src" / "mcpwarden" / "detect" / "rules"
NOT_CREDENTIAL_FILES = {"pii.toml", "_example.toml"}
REQUIRED_FAMILIES = {
    "cloud",
    "source-hosting",
    "ai",
    "payments",
    "messaging",
    "registries",
    "databases",
    "private-keys",
    "jwt",
    "auth-urls",
    "generic",
    "observability",
    "saas",
    "password-hashes",
}
ALLOWED_KEYS = _RULE_KEYS  # the loader's own list: the self-check cannot drift from it


def _load() -> list[tuple[str, dict[str, Any]]]:
    rules = []
    for path in sorted(RULES_DIR.glob("*.toml")):
        if path.name in NOT_CREDENTIAL_FILES:
            continue
        with path.open("rb") as fh:
            data = tomllib.load(fh)
        rules.extend((path.name, table) for table in data.get("rule", []))
    return rules


RULES = _load()


def _entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _validator(name: str | None):
    if name is None:
        return None
    validators = pytest.importorskip("mcpwarden.detect.validators", reason="validators module not present yet")
    return validators.VALIDATORS[name]


def _surviving_secrets(rule: dict[str, Any], text: str) -> list[str]:
    """Secrets the rule reports in ``text``: regex hit, then allowlist, entropy and validator."""
    if not any(k in text.lower() for k in rule["keywords"]):
        return []
    pattern = re.compile(rule["regex"])
    group = rule.get("secret_group", 1 if pattern.groups else 0)
    allow = rule.get("allowlist", {})
    allow_res = [re.compile(a) for a in allow.get("regexes", [])]
    stopwords = [s.lower() for s in allow.get("stopwords", [])]
    check = _validator(rule.get("validator"))
    found = []
    for m in pattern.finditer(text):
        secret = m.group(group)
        if not secret or any(a.search(secret) for a in allow_res) or any(s in secret.lower() for s in stopwords):
            continue
        if rule.get("entropy") is not None and _entropy(secret) < rule["entropy"]:
            continue
        if check is not None and not check(secret):
            continue
        found.append(secret)
    return found


def test_enough_rules_and_families() -> None:
    assert len(RULES) >= 200, f"only {len(RULES)} credential rules"
    families = {table["family"] for _, table in RULES}
    assert families >= REQUIRED_FAMILIES, f"missing families: {REQUIRED_FAMILIES - families}"


def test_ids_unique_and_file_matches_family() -> None:
    ids = Counter(table["id"] for _, table in RULES)
    assert [i for i, n in ids.items() if n > 1] == []
    for source, table in RULES:
        assert source == f"{table['family']}.toml", f"{table['id']} is in {source}"


@pytest.mark.parametrize(("source", "rule"), RULES, ids=[t["id"] for _, t in RULES])
def test_rule(source: str, rule: dict[str, Any]) -> None:
    assert set(rule) <= ALLOWED_KEYS, f"unknown keys {set(rule) - ALLOWED_KEYS}"
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", rule["id"])
    assert rule["severity"] in {"critical", "high", "medium", "low"}
    assert rule.get("tier", "pattern") in {"pattern", "generic"}
    assert rule["keywords"] and all(k == k.lower() and k for k in rule["keywords"])
    assert rule["regex"].isascii()
    examples = rule["examples"]
    assert examples["match"] and examples["no_match"], "each rule needs match and no_match examples"
    for text in examples["match"]:
        assert _surviving_secrets(rule, text), f"{rule['id']} misses match example {text[:60]!r}"
        assert any(k in text.lower() for k in rule["keywords"])
    for text in examples["no_match"]:
        assert not _surviving_secrets(rule, text), f"{rule['id']} fires on no_match example {text[:60]!r}"


def test_regexes_compile_in_re2() -> None:
    re2 = pytest.importorskip("re2", reason="google-re2 not installed")
    bad = []
    for _, rule in RULES:
        try:
            re2.compile(rule["regex"].encode())
        except Exception as exc:  # re2 has its own error type
            bad.append(f"{rule['id']}: {exc}")
    assert bad == []


def test_regexes_compile_in_hyperscan() -> None:
    hyperscan = pytest.importorskip("hyperscan", reason="hyperscan not installed")
    bad = []
    for _, rule in RULES:
        db = hyperscan.Database()
        try:
            db.compile(expressions=[rule["regex"].encode()], ids=[0], elements=1, flags=[0])
        except hyperscan.error as exc:
            bad.append(f"{rule['id']}: {exc}")
    assert bad == []


# Fillers that make a greedy or repeated part of a regex run long and then fail, next to a
# keyword: the engine confirms matches with Python re in windows of up to 4 KB.
ADVERSARIAL_FILL = ["a", "A1", "=", " ", ":", "-", "_", "\\n", "\n", "a:", "a@", "/", "x=", "%3D", ".", "://", "@"]
WINDOW = 4096
BUDGET_SECONDS = 0.25


def _adversarial_inputs(rule: dict[str, Any]) -> list[bytes]:
    out = []
    for keyword in rule["keywords"]:
        for fill in ADVERSARIAL_FILL:
            out.append((keyword + fill * WINDOW)[:WINDOW].encode())
            out.append(((keyword + fill) * WINDOW)[:WINDOW].encode())
    for example in rule["examples"]["match"][:2]:
        out.append((example[:-3] * WINDOW)[:WINDOW].encode())
    return out


def test_no_rule_backtracks_on_adversarial_windows() -> None:
    slow = []
    for _, rule in RULES:
        pattern = re.compile(rule["regex"].encode())
        for data in _adversarial_inputs(rule):
            began = time.perf_counter()
            for _ in pattern.finditer(data):
                pass
            took = time.perf_counter() - began
            if took > BUDGET_SECONDS:
                slow.append(f"{rule['id']}: {took * 1000:.0f} ms on {data[:24]!r}")
    assert slow == []
