"""Rule files in the gitleaks format are read, converted and used."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwarden.detect import Engine, gitleaks
from mcpwarden.detect.ruleset import load_rule_file
from mcpwarden.errors import DetectError

GITLEAKS_TOML = r"""
title = "team rules"

[allowlist]
description = "global"
regexes = ['''(?i)dummy''']

[[rules]]
id = "acme-api-token"
description = "ACME API token"
regex = '''(?i)\b(acme_[[:alnum:]]{24})\b'''
secretGroup = 1
keywords = ["acme_"]
entropy = 3.0
tags = ["acme"]

[[rules.allowlists]]
stopwords = ["testtoken"]

[[rules]]
id = "generic-acme-password"
description = "password near acme"
regex = '''acme.{0,20}(?i)password\s*=\s*"([^"]{8,40})"'''
keywords = ["acme"]

[[rules]]
id = "pkcs12-file"
description = "path-only rule"
path = '''\.p12$'''

[[rules]]
id = "no-keyword-rule"
regex = '''zz[0-9]{10}'''
"""


@pytest.fixture()
def path(tmp_path: Path) -> Path:
    p = tmp_path / "gitleaks.toml"
    p.write_text(GITLEAKS_TOML)
    return p


def test_gitleaks_rules_convert(path: Path) -> None:
    rules = {r.id: r for r in load_rule_file(path)}
    assert set(rules) == {"gitleaks.acme-api-token", "gitleaks.generic-acme-password"}
    token = rules["gitleaks.acme-api-token"]
    assert "A-Za-z0-9" in token.regex and token.secret_group == 1 and token.entropy == 3.0
    assert token.family == "gitleaks" and token.tier == "pattern"
    assert rules["gitleaks.generic-acme-password"].tier == "generic"
    assert rules["gitleaks.generic-acme-password"].regex.startswith("(?i)")
    assert any("pkcs12-file" in s for s in gitleaks.skipped) and any("no-keyword-rule" in s for s in gitleaks.skipped)


def test_gitleaks_rules_detect_and_allowlists_apply(path: Path) -> None:
    engine = Engine.load(builtin=False, extra=[path])
    assert [f.rule_id for f in engine.scan_text("key acme_q8w7e6r5t4y3u2i1o9p8a7s6")] == ["gitleaks.acme-api-token"]
    assert engine.scan_text("key acme_dummyq8w7e6r5t4y3u2i1o9p8") == []
    assert engine.scan_text("key acme_testtoken8w7e6r5t4y3u2i1o9") == []
    found = engine.scan_text('ACME: password = "Zx9!kLm2pQr7"')
    assert [(f.rule_id, f.tier) for f in found] == [("gitleaks.generic-acme-password", "generic")]


def test_gitleaks_rules_are_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[[rules]]\nid = \"lookahead\"\nregex = '''a(?=b)'''\nkeywords = [\"a\"]\n")
    with pytest.raises(DetectError, match=r"'gitleaks\.lookahead'.*lookahead"):
        load_rule_file(bad)
