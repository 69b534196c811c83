"""What protection a server gets on this machine, decided before anything is created: the
tier, the network mode, which limits go to cgroups and which to rlimits, and the report.
Pure functions of the policy entry and the probed capabilities (doctor uses them too)."""

from __future__ import annotations

import resource
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mcpwarden.errors import ProtectionUnavailable
from mcpwarden.sandbox.options import NetworkOptions
from mcpwarden.sandbox.probe import Capabilities
from mcpwarden.sandbox.report import PROTECTIONS, REQUIRE_NAMES, Protection, ProtectionReport

if TYPE_CHECKING:
    from mcpwarden.policy.schema import ServerSettings

SANDBOX_KEYS = ("filesystem", "network", "env", "secrets", "limits", "require")
NetworkMode = Literal["none", "host", "allow"]
# Processes bwrap itself keeps in the server's cgroup: the outer bwrap and the PID-1 reaper.
BWRAP_OWN_PIDS = 2

FIXES = {
    "bwrap": "install bubblewrap (apt-get install bubblewrap) and allow unprivileged user namespaces "
             "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu >= 23.10 an AppArmor profile for bwrap "
             "or sysctl kernel.apparmor_restrict_unprivileged_userns=0)",
    "landlock": "a Linux kernel >= 5.13 with Landlock enabled (lsm=...,landlock); >= 6.7 for TCP rules",
    "cgroups": "a delegated cgroup v2 subtree (e.g. run the gateway under systemd-run --user --scope -p Delegate=yes) "
               "or run as root with cgroup v1",
    "seccomp": "a kernel with seccomp filters on x86-64 or aarch64",
}


def is_sandboxed(server: ServerSettings) -> bool:
    """Any sandbox key set means sandboxed deny-by-default; none means run as without mcpwarden."""
    return any(getattr(server, name) for name in SANDBOX_KEYS)


def network_mode(server: ServerSettings) -> NetworkMode:
    setting = server.network
    if setting == "host":
        return "host"
    if isinstance(setting, NetworkOptions) and setting.allow:
        return "allow"
    return "none"


@dataclass
class LimitsPlan:
    cgroup: dict[str, float | int] = field(default_factory=dict)  # memory/pids/cpu -> value
    rlimits: dict[int, int] = field(default_factory=dict)  # resource.RLIMIT_* -> soft=hard
    protection: Protection = field(default_factory=lambda: Protection("off", "no limits in the policy"))


def plan_limits(server: ServerSettings, caps: Capabilities, tier: str) -> LimitsPlan:
    plan = LimitsPlan(rlimits={resource.RLIMIT_CORE: 0})
    limits = server.limits
    if limits is None:
        return plan
    available = caps.cgroups.controllers()
    enforced: list[str] = []
    degraded: list[str] = []
    memory = limits.memory_bytes()
    if memory is not None:
        if "memory" in available:
            plan.cgroup["memory"] = memory
            enforced.append("memory (cgroup)")
        else:
            plan.rlimits[resource.RLIMIT_DATA] = memory  # not RLIMIT_AS: V8 reserves huge address space
            degraded.append("memory (RLIMIT_DATA, per process)")
    if limits.pids is not None:
        if "pids" in available:
            plan.cgroup["pids"] = limits.pids + (BWRAP_OWN_PIDS if tier == "bwrap" else 0)
            enforced.append("pids (cgroup)")
        else:
            plan.rlimits[resource.RLIMIT_NPROC] = limits.pids
            degraded.append("pids (RLIMIT_NPROC, per user, not for root)")
    if limits.cpu is not None:
        if "cpu" in available:
            plan.cgroup["cpu"] = limits.cpu
            enforced.append("cpu (cgroup)")
        else:
            degraded.append("cpu not limited (no cgroup; RLIMIT_CPU would kill a long-lived server)")
    if limits.open_files is not None:
        plan.rlimits[resource.RLIMIT_NOFILE] = limits.open_files
        enforced.append("open_files (RLIMIT_NOFILE)")
    if degraded:
        plan.protection = Protection("degraded", "; ".join(enforced + degraded) + f"; for cgroups: {FIXES['cgroups']}")
    else:
        plan.protection = Protection("enforced", ", ".join(enforced))
    return plan


def plan_report(server: ServerSettings, caps: Capabilities, *, netns_ok: bool | None = None) -> ProtectionReport:
    """The protections ``server`` gets here. ``netns_ok`` overrides the probed netns support."""
    if not is_sandboxed(server):
        return ProtectionReport.unsandboxed()
    tier = caps.tier
    netns_ok = caps.network_namespaces if netns_ok is None else netns_ok
    mode = network_mode(server)
    fs = server.filesystem
    n_read, n_write = (len(fs.read), len(fs.write)) if fs else (0, 0)
    seccomp = Protection("enforced", "io_uring, ptrace, bpf, keyctl, userfaultfd, perf_event_open, process_vm_*, "
                                     "raw and netlink sockets refused") if caps.seccomp else \
        Protection("off", f"seccomp unavailable; needs {FIXES['seccomp']}")
    env_detail = "clean environment" + (f"; {len(server.secrets)} secret(s) injected" if server.secrets else "")
    p: dict[str, Protection] = {}
    if tier == "bwrap":
        p["filesystem"] = Protection("enforced", f"bubblewrap: system dirs read-only, {n_read} read and {n_write} "
                                                 "write path(s), own HOME, cache and tmp")
        if mode == "host":
            p["network"] = Protection("off", "network: host in the policy (shares the host network)")
        elif mode == "none":
            p["network"] = Protection("enforced", "own network namespace with no way out")
        elif netns_ok:
            p["network"] = Protection("enforced", "own network namespace; only the egress proxy (allowlist, "
                                                  "public addresses only) leads out")
        else:
            p["network"] = Protection("degraded", "network namespace listener unavailable: all egress blocked, "
                                                  "allowlisted hosts unreachable")
        p["env"] = Protection("enforced", env_detail + "; bwrap started with the same minimal environment")
        p["pid"] = Protection("enforced", "own PID namespace (host processes and /proc/<pid>/environ invisible)")
        p["seccomp"] = seccomp
    elif tier == "landlock":
        p["filesystem"] = Protection("enforced", f"Landlock ABI {caps.landlock_abi}: system dirs read-only, "
                                                 f"{n_read} read and {n_write} write path(s), own HOME, cache and tmp")
        tcp = caps.landlock_abi >= 4
        if mode == "host":
            p["network"] = Protection("off", "network: host in the policy (shares the host network)")
        elif not tcp:
            p["network"] = Protection("off", f"Landlock ABI {caps.landlock_abi} has no TCP rules (needs ABI 4); "
                                             f"for full isolation: {FIXES['bwrap']}")
        elif mode == "none":
            p["network"] = Protection("degraded", "Landlock refuses TCP connect and bind; UDP (and so DNS) is not "
                                                  f"confined; for full isolation: {FIXES['bwrap']}")
        else:
            p["network"] = Protection("degraded", "Landlock allows TCP only to the egress proxy's port; UDP (and so "
                                                  f"DNS) is not confined; for full isolation: {FIXES['bwrap']}")
        p["env"] = Protection("enforced", env_detail)
        p["pid"] = Protection("degraded", "no PID namespace; /proc is closed by Landlock (so no /proc/<pid>/environ), "
                                          "signals are scoped (ABI >= 6), seccomp refuses ptrace")
        p["seccomp"] = seccomp
    elif tier == "sandbox-exec":
        p["filesystem"] = Protection("enforced", f"sandbox-exec profile: {n_read} read and {n_write} write path(s)")
        p["network"] = (Protection("off", "network: host in the policy") if mode == "host" else
                        Protection("enforced", "sandbox-exec allows only the egress proxy on localhost"
                                   if mode == "allow" else "sandbox-exec denies all network"))
        p["env"] = Protection("enforced", env_detail)
        p["pid"] = Protection("off", "no PID isolation on macOS")
        p["seccomp"] = Protection("off", "no seccomp on macOS")
    else:
        p["filesystem"] = Protection("off", f"no bubblewrap and no Landlock here; {FIXES['bwrap']}")
        p["network"] = Protection("off", "not confined; proxy variables set for cooperative tools only"
                                  if mode == "allow" else "not confined")
        p["env"] = Protection("enforced", env_detail)
        p["pid"] = Protection("off", "no PID namespace")
        p["seccomp"] = seccomp
    p["limits"] = plan_limits(server, caps, tier).protection
    return ProtectionReport(tier, {name: p[name] for name in PROTECTIONS})


def required(server: ServerSettings) -> list[str]:
    """Protections that must hold: ``require`` plus those implied by the keys set."""
    names = [REQUIRE_NAMES[r] for r in server.require]
    if server.filesystem is not None:
        names.append("filesystem")
    if server.network is not None and network_mode(server) != "host":
        names.append("network")
    if server.env is not None or server.secrets:
        names.append("env")
    if server.limits is not None:
        names.append("limits")
    return list(dict.fromkeys(names))


def check_requirements(name: str, server: ServerSettings, report: ProtectionReport) -> None:
    """Raise ProtectionUnavailable naming what is missing and how to get it."""
    problems = []
    for protection in required(server):
        status = report.status(protection)
        if status == "enforced" or (status == "degraded" and server.allow_degraded):
            continue
        detail = report.protections[protection].detail
        problems.append(f"{protection} is {status} here ({detail})")
    if problems:
        hint = "" if server.allow_degraded else "; set allow_degraded: true to accept degraded protections"
        raise ProtectionUnavailable(
            f"server {name!r} not started: its policy requires protections this machine cannot give: "
            + "; ".join(problems) + hint
        )
