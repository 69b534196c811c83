"""Helpers for the audit log tests (imported by the test modules and conftest.py)."""

from __future__ import annotations

import os

import orjson

KEY_ENV = "MCPWARDEN_TEST_AUDIT_KEY"
TEST_KEY = "test-key-0123456789abcdef-not-a-real-secret"


def tcall_record(i: int, **extra: object) -> dict[str, object]:
    """A record shaped like the gateway's ``call`` records."""
    record: dict[str, object] = {
        "event": "call",
        "session": "3f2a9c1e0b7d4a56",
        "principal": "local",
        "server": "files" if i % 2 else "web",
        "method": "tools/call",
        "tool": f"tool{i % 3}",
        "arg_keys": ["path"],
        "args_sha256": f"{i:064x}",
        "verdict": "deny" if i % 5 == 0 else "pass",
        "rule": "tools.deny" if i % 5 == 0 else None,
        "duration_ms": 0.5 + i,
        "origin": "client",
    }
    record.update(extra)
    return record



def read_lines(path: str) -> list[bytes]:
    with open(path, "rb") as handle:
        return handle.read().split(b"\n")[:-1]


def write_lines(path: str, lines: list[bytes], trailing: bytes = b"") -> None:
    with open(path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines) + trailing)


def load(line: bytes) -> dict[str, object]:
    obj = orjson.loads(line)
    assert isinstance(obj, dict)
    return obj


def key_from_env() -> bytes | None:
    return os.environb.get(KEY_ENV.encode()) or None
