"""Fixtures of the auditor tests: fake home directories built under tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest
from auditor_homes import build_home

from mcpwarden.auditor.audit import Report, run_audit
from mcpwarden.auditor.model import Finding
from mcpwarden.auditor.target import Target


@pytest.fixture
def home(tmp_path: Path) -> dict[str, Path]:
    return build_home(tmp_path)


def audit_home(paths: dict[str, Path], **kwargs: object) -> Report:
    target = Target(home=paths["home"], system_root=paths["system"], audit_log=paths["home"] / "no-audit.jsonl")
    for key, value in kwargs.items():
        setattr(target, key, value)
    return run_audit(target)


@pytest.fixture
def report(home: dict[str, Path]) -> Report:
    return audit_home(home)


def pick(findings: list[Finding], check: str, path_end: str = "", server: str | None = None, key: str = "") -> Finding:
    """The one finding matching; fails with the list of what was found otherwise."""
    matches = [
        f
        for f in findings
        if f.check == check and f.path.endswith(path_end) and (server is None or f.server == server) and key in f.key
    ]
    assert len(matches) == 1, f"expected one {check} {path_end} {server} {key}, got {matches!r}\nall: " + "\n".join(
        f"{f.check} {f.path}:{f.line} {f.server} {f.key} {f.message}" for f in findings
    )
    return matches[0]


def none_of(findings: list[Finding], check: str, path_end: str = "", server: str | None = None) -> None:
    matches = [
        f for f in findings if f.check == check and f.path.endswith(path_end) and (server is None or f.server == server)
    ]
    assert not matches, matches
