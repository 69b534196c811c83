"""What this machine can give: bubblewrap with user namespaces, network namespaces, Landlock,
seccomp, cgroups, rlimits. Probed once per process (results are cached); ``mcpwarden doctor``
prints it."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from mcpwarden.sandbox import cgroups, landlock, seccomp

BWRAP_PROBE_TIMEOUT = 10.0


@dataclass(frozen=True)
class Capabilities:
    platform: str
    bwrap: str | None = None  # path of a working bwrap
    bwrap_version: str | None = None
    bwrap_error: str | None = None
    user_namespaces: bool = False
    network_namespaces: bool = False
    netns_error: str | None = None
    landlock_abi: int = 0
    seccomp: bool = False
    cgroups: cgroups.CgroupSupport = field(default_factory=cgroups.CgroupSupport)
    rlimits: bool = False
    sandbox_exec: str | None = None

    @property
    def tier(self) -> str:
        if self.platform == "darwin":
            return "sandbox-exec" if self.sandbox_exec else "minimal"
        if self.bwrap and self.user_namespaces:
            return "bwrap"
        if self.landlock_abi:
            return "landlock"
        return "minimal"

    def lines(self) -> list[str]:
        def yes(flag: bool, detail: str = "") -> str:
            return ("yes" if flag else "no") + (f" ({detail})" if detail else "")

        return [
            f"platform            {self.platform}",
            f"bubblewrap          {yes(bool(self.bwrap), self.bwrap_version or self.bwrap_error or '')}",
            f"user namespaces     {yes(self.user_namespaces)}",
            f"network namespaces  {yes(self.network_namespaces, self.netns_error or '')}",
            f"landlock            {yes(self.landlock_abi > 0, f'ABI {self.landlock_abi}' * bool(self.landlock_abi))}",
            f"seccomp             {yes(self.seccomp)}",
            f"cgroups             {self.cgroups.describe()}",
            f"rlimits             {yes(self.rlimits)}",
            f"sandbox tier        {self.tier}",
        ]


def _probe_bwrap() -> tuple[str | None, str | None, str | None]:
    path = shutil.which("bwrap")
    if path is None:
        return None, None, "not installed (apt-get install bubblewrap)"
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=BWRAP_PROBE_TIMEOUT)
        run = subprocess.run(
            [path, "--unshare-all", "--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--", "true"],
            capture_output=True, text=True, timeout=BWRAP_PROBE_TIMEOUT, env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, None, f"does not run: {exc}"
    if run.returncode != 0:
        reason = run.stderr.strip().splitlines()[-1] if run.stderr.strip() else f"exit {run.returncode}"
        return None, version.stdout.strip(), f"cannot create namespaces: {reason}"
    return path, version.stdout.strip(), None


def _probe_netns() -> tuple[bool, str | None]:
    from mcpwarden.errors import SandboxError
    from mcpwarden.sandbox import netns

    try:
        namespace = netns.create()
    except (SandboxError, OSError) as exc:
        return False, str(exc)
    namespace.close()
    return True, None


@functools.cache
def probe() -> Capabilities:
    if sys.platform == "darwin":
        return Capabilities(platform="darwin", rlimits=True,
                            sandbox_exec="/usr/bin/sandbox-exec" if os.path.exists("/usr/bin/sandbox-exec") else None)
    if sys.platform != "linux":
        return Capabilities(platform=sys.platform)
    bwrap, version, error = _probe_bwrap()
    netns_ok, netns_error = _probe_netns()
    return Capabilities(
        platform="linux",
        bwrap=bwrap,
        bwrap_version=version,
        bwrap_error=error,
        user_namespaces=bwrap is not None,
        network_namespaces=netns_ok,
        netns_error=netns_error,
        landlock_abi=landlock.abi_version(),
        seccomp=seccomp.seccomp_available(),
        cgroups=cgroups.detect(),
        rlimits=True,
    )
