"""Is this config value a secret? The detection engine (``mcpwarden.detect``) decides; a
small fallback (secret-named keys with real-looking values, a few unmistakable token formats)
runs only where the engine cannot be imported. Never returns or logs the value."""

from __future__ import annotations

import math
import re
from typing import Any

SECRET_NAME = re.compile(
    r"(?:^|[_\-.])(?:TOKEN|KEY|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?|AUTH|BEARER|PRIVATE|APIKEY|COOKIE|PAT)(?:$|[_\-.])"
    r"|(?:API|ACCESS|SECRET|PRIVATE|AUTH)_?KEY|TOKEN$|PASSWORD|SECRET|APIKEY|AUTHORIZATION",
    re.IGNORECASE,
)
NOT_SECRET_NAME = re.compile(
    r"(?:_|^)(?:PATH|FILE|DIR|URL|HOST|PORT|ID|NAME|USER|USERNAME|REGION|MODEL|TYPE|ENV_VAR)$", re.I
)
_PLACEHOLDER = re.compile(
    r"^\s*(?:\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*|%[A-Za-z_][A-Za-z0-9_]*%|\{\{[^}]*\}\}|<[^>]*>|\[[^\]]*\]"
    r"|(?:your|my|insert|replace|enter|put|add)[-_ ][-\w ]*|x{3,}|\*{3,}|\.{3,}"
    r"|changeme|change[-_]me|placeholder|todo|tbd|none|null|true|false|example\w*|dummy|test|redacted"
    r"|secret|password|token|env:\S+|file:\S+|keyring:\S+|op://\S+)\s*$",
    re.IGNORECASE,
)
_REFERENCE = re.compile(r"\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_FORMATS = [
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})\b")),
    ("aws-access-key-id", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    ("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b")),
    ("openai-key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{32,}\b")),
    ("anthropic-key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{32,}\b")),
    ("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("stripe-key", re.compile(r"\b[rs]k_live_[0-9A-Za-z]{20,}\b")),
    ("private-key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
    ("url-credentials", re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@", re.I)),
]
_BEARER = re.compile(r"^\s*(?:Bearer|Basic|Token)\s+(\S{8,})\s*$", re.I)
_QUERY_SECRET = re.compile(r"[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|auth)=([^&#\s]{8,})", re.I)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not NOT_SECRET_NAME.search(name)


def is_placeholder(value: str) -> bool:
    return not value.strip() or bool(_PLACEHOLDER.match(value))


def references(value: str) -> list[str]:
    """Environment variables a value pulls in (``${VAR}``, ``${env:VAR}``, ``$VAR``)."""
    return [a or b for a, b in _REFERENCE.findall(value)]


def _entropy(text: str) -> float:
    counts: dict[str, int] = {}
    for ch in text:
        counts[ch] = counts.get(ch, 0) + 1
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _looks_real(value: str) -> bool:
    value = value.strip()
    if is_placeholder(value) or references(value) or len(value) < 8 or " " in value:
        return False
    return _entropy(value) >= 2.5


_ENGINE: Any = None
_ENGINE_LOADED = False
ENGINE_PROBLEM: str | None = None  # why the engine could not be used; reports show it


def _load_engine() -> Any:
    """The detection engine, loaded once per process (loading compiles every rule). If it cannot
    load, the fallback runs and the report says so, rather than the audit failing outright."""
    global _ENGINE, _ENGINE_LOADED, ENGINE_PROBLEM
    if not _ENGINE_LOADED:
        _ENGINE_LOADED = True
        try:
            from mcpwarden.detect import Engine

            _ENGINE = Engine.load()
        except Exception as exc:
            _ENGINE = None
            ENGINE_PROBLEM = f"detection engine unavailable ({type(exc).__name__}); fallback secret checks used"
    return _ENGINE


class SecretScanner:
    """``kind(value, name)`` -> the rule id if the value is a secret, else None.

    With the detection engine the value is scanned as ``NAME="value"``, so the engine's
    keyword rules see the name; PII findings do not count. Without the engine, a fallback of
    a few token formats and secret-named keys with real-looking values runs instead."""

    def __init__(self, use_engine: bool = True) -> None:
        self.engine: Any = _load_engine() if use_engine else None

    def kind(self, value: str, name: str | None = None) -> str | None:
        if not isinstance(value, str) or not value.strip() or len(value) > 1_000_000:
            return None
        if self.engine is not None:
            text = f'{name}="{value}"' if name else value
            for item in self.engine.scan_text(text):
                if item.tier != "pii":
                    return str(item.rule_id)
            return None
        return fallback_kind(value, name)


def fallback_kind(value: str, name: str | None = None) -> str | None:
    for rule, pattern in _FORMATS:
        if pattern.search(value):
            return rule
    bearer = _BEARER.match(value)
    if bearer and _looks_real(bearer.group(1)):
        return "authorization-header"
    query = _QUERY_SECRET.search(value)
    if query and _looks_real(query.group(1)):
        return "url-query-secret"
    if name and is_secret_name(name) and _looks_real(value):
        return "secret-named-value"
    return None
