"""Policy options of the audit log (``audit:`` in the policy file)."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, field_validator

from mcpwarden.policy.base import StrictModel


def default_audit_path() -> str:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return str(Path(state) / "mcpwarden" / "audit.jsonl")


class AuditOptions(StrictModel):
    enabled: bool = Field(True, description="Write an audit record for every decision.")
    path: str = Field(default_factory=default_audit_path, description="The JSONL file; ~ and $VARS expand.")
    hmac_key_env: str = Field(
        "MCPWARDEN_AUDIT_KEY",
        description=(
            "Environment variable holding the HMAC key that keys the hash chain (at least 16 bytes); "
            "unset means a plain SHA-256 chain."
        ),
    )
    rotate_bytes: int = Field(64 * 1024 * 1024, ge=4096, description="Rotate the file when it grows past this size.")
    keep: int = Field(20, ge=1, description="How many rotated files to keep beside the current one.")
    fsync: bool = Field(False, description="fsync after every record (survives power loss, costs latency).")

    @field_validator("path")
    @classmethod
    def _expand(cls, value: str) -> str:
        return os.path.expandvars(os.path.expanduser(value))
