"""The per-server protection report: for each protection, enforced / degraded / off and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["enforced", "degraded", "off"]
PROTECTIONS = ("filesystem", "network", "env", "pid", "seccomp", "limits")
# The short names used by ``require`` in the policy.
REQUIRE_NAMES = {"fs": "filesystem", "net": "network", "env": "env", "pid": "pid", "seccomp": "seccomp",
                 "limits": "limits"}


@dataclass(frozen=True)
class Protection:
    status: Status
    detail: str


@dataclass(frozen=True)
class ProtectionReport:
    tier: str  # "bwrap", "landlock", "minimal", "none", "sandbox-exec"
    protections: dict[str, Protection] = field(default_factory=dict)

    @classmethod
    def unsandboxed(cls) -> ProtectionReport:
        reason = "no sandbox keys in this server's policy entry"
        return cls("none", {name: Protection("off", reason) for name in PROTECTIONS})

    def status(self, name: str) -> Status:
        return self.protections[name].status

    def as_dict(self) -> dict[str, object]:
        """The ``protections`` field of the audit record: tier plus status and detail of each."""
        out: dict[str, object] = {"tier": self.tier}
        out.update({name: {"status": p.status, "detail": p.detail} for name, p in self.protections.items()})
        return out

    def lines(self) -> list[str]:
        width = max(len(n) for n in PROTECTIONS)
        return [f"{name:<{width}}  {p.status:<8}  {p.detail}" for name, p in self.protections.items()]
