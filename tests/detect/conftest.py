"""Fixtures of the detection tests: engines over the sample rules, the built-in rules, both gates."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwarden.detect import Engine
from mcpwarden.detect.prefilter import HAVE_HYPERSCAN
from mcpwarden.detect.ruleset import RULES_DIR

EXAMPLE_RULES = RULES_DIR / "_example.toml"
PII_RULES = RULES_DIR / "pii.toml"

# Synthetic values that pass the validators of the sample rules.
GITHUB_PAT = "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"
NPM_TOKEN = "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"
AWS_KEY_ID = "AKIAQ3EGRWZ5T4LMNBVC"
JWT = (
    "eyJhbGciOiAiSFMyNTYiLCAidHlwIjogIkpXVCJ9.eyJzdWIiOiAiMTIzNDU2Nzg5MCIsICJuYW1lIjogIkFkYSIsICJpYXQiOiAxNzE2MjM5MDIyfQ"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)


@pytest.fixture(scope="session")
def sample_engine() -> Engine:
    return Engine.load(builtin=False, extra=[EXAMPLE_RULES, PII_RULES])


@pytest.fixture(scope="session")
def builtin_engine() -> Engine:
    return Engine.load()


def gates() -> list[str]:
    return ["python", "hyperscan"] if HAVE_HYPERSCAN else ["python"]


needs_hyperscan = pytest.mark.skipif(not HAVE_HYPERSCAN, reason="the hyperscan package is not installed")


def example_path() -> Path:
    return EXAMPLE_RULES
