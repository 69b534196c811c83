"""Fixtures for the audit log tests: real files in tmp_path, real processes for crash cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from audit_helpers import KEY_ENV, TEST_KEY, tcall_record

from mcpwarden.audit import AuditLog, AuditOptions


@pytest.fixture
def options(tmp_path: Path) -> AuditOptions:
    return AuditOptions(path=str(tmp_path / "logs" / "audit.jsonl"), hmac_key_env=KEY_ENV)


@pytest.fixture(params=["sha256", "hmac-sha256"])
def keyed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bytes | None:
    """Runs a test with an unkeyed and with an HMAC-keyed chain; returns the key (or None)."""
    if request.param == "hmac-sha256":
        monkeypatch.setenv(KEY_ENV, TEST_KEY)
        return TEST_KEY.encode()
    monkeypatch.delenv(KEY_ENV, raising=False)
    return None


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[..., AuditOptions]:
    """Write ``count`` call records to a fresh log (key taken from the environment) and close it."""

    def write(count: int = 10, name: str = "audit.jsonl", **overrides: object) -> AuditOptions:
        opts = AuditOptions(path=str(tmp_path / "logs" / name), hmac_key_env=KEY_ENV, **overrides)
        with AuditLog.open(opts) as log:
            for i in range(count):
                log.append(tcall_record(i))
        return opts

    return write


