"""Which rule names a span that several rules match."""

from __future__ import annotations

from mcpwarden.detect import Engine
from mcpwarden.detect.rule import rule_from_table

TOKEN = "acmeZq7Rk2Lm9Xw4"
TEXT = f"DATABASE=https://deploy:{TOKEN}@db.internal.example:5432/app"


def _rule(rule_id: str, family: str, keywords: list[str], regex: str) -> object:
    return rule_from_table(
        {
            "id": rule_id,
            "description": f"test rule {rule_id}",
            "family": family,
            "severity": "high",
            "keywords": keywords,
            "regex": regex,
            "examples": {"match": [TEXT], "no_match": ["nothing here"]},
        },
        "test",
    )


def _url_rule(rule_id: str, family: str = "auth-urls") -> object:
    return _rule(rule_id, family, ["://"], r"://[a-z]+:([A-Za-z0-9]{16})@")


def _token_rule(rule_id: str, family: str = "saas") -> object:
    return _rule(rule_id, family, ["acmez"], r"\b(acmeZ[A-Za-z0-9]{11})\b")


def test_a_provider_rule_names_the_span_before_a_format_rule() -> None:
    found = Engine([_url_rule("aaa-url-password"), _token_rule("zzz-acme-token")]).scan_text(TEXT)
    assert [(f.rule_id, TEXT[f.start : f.end]) for f in found] == [("zzz-acme-token", TOKEN)]


def test_generic_family_loses_the_tie_too() -> None:
    found = Engine([_url_rule("aaa-generic", family="generic"), _token_rule("zzz-acme-token")]).scan_text(TEXT)
    assert [f.rule_id for f in found] == ["zzz-acme-token"]


def test_two_provider_rules_tie_by_id() -> None:
    found = Engine([_url_rule("zzz-db-url", family="databases"), _token_rule("aaa-acme-token")]).scan_text(TEXT)
    assert [f.rule_id for f in found] == ["aaa-acme-token"]
    found = Engine([_url_rule("aaa-db-url", family="databases"), _token_rule("zzz-acme-token")]).scan_text(TEXT)
    assert [f.rule_id for f in found] == ["aaa-db-url"]


def test_builtin_database_url_beats_url_basic_auth(builtin_engine: Engine) -> None:
    text = "postgres://app:Zq7Rk2Lm9Xw4Pt8Vn3@db.prod.internal:5432/main"
    ids = [f.rule_id for f in builtin_engine.scan_text(text)]
    assert "postgres-url-password" in ids and "url-basic-auth" not in ids
