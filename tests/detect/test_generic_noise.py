"""Counters and sizes next to credential words are not credentials."""

from __future__ import annotations

import pytest

from mcpwarden.detect import Engine

COUNTER_LINES = [
    "token_count: 9283746510",
    "max_tokens=4096",
    "input_tokens: 512",
    '"output_tokens": 1536,',
    "usage: prompt_tokens=1234 completion_tokens=56 total_tokens=8529637410",
    "session_token_count=8529637410",
    "token=93847561029384756",
    "api_key_count: 9283746510",
    "secret_version: 9283746510",
    "credential_count: 9283746510",
    "access_key_ttl=9283746510",
    "tokens_per_second=1234.56789",
]


@pytest.mark.parametrize("line", COUNTER_LINES)
def test_numbers_after_credential_words_are_not_findings(builtin_engine: Engine, line: str) -> None:
    assert builtin_engine.scan_text(line) == []


@pytest.mark.parametrize(
    "line",
    ["token: 8f3a9c2e71b44d05a1e6", "api_key = 'Zq7Rk2Lm9Xw4Pt8Vn3Hs'", "ACCESS_TOKEN=eK2OKY#Hyh3e1c0z"],
)
def test_real_generic_values_are_still_found(builtin_engine: Engine, line: str) -> None:
    assert [f.tier for f in builtin_engine.scan_text(line)] == ["generic"]
