"""The bubblewrap command line of the full tier: an empty root with allowlisted binds only.

System runtime directories are bound read-only (never ``/``: a read-only bound Unix socket is
still connectable), the server's own tmp, then the policy's read paths (read-only), write
paths, and the server's own HOME and cache. Deeper paths are bound after shallower ones so that
a read path inside a write path stays read-only and vice versa.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from mcpwarden.errors import SandboxError
from mcpwarden.sandbox.environment import ServerDirs
from mcpwarden.sandbox.options import refused_grant

log = logging.getLogger("mcpwarden.sandbox")

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc entries a runtime needs: dynamic linker cache, TLS roots (Debian, Fedora), users and
# name-service config, time zone, Debian alternatives. Not /etc as a whole (shadow, host keys,
# tokens in rc files). Kept short on purpose: each existing entry is a bind mount (~1 ms).
ETC_ENTRIES = (
    "ld.so.cache", "ssl", "ca-certificates", "pki", "crypto-policies", "passwd", "group", "nsswitch.conf",
    "hosts", "localtime", "alternatives",
)


@dataclass
class BindPlan:
    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)

    def ordered(self) -> list[tuple[str, str]]:
        entries = [(p, "read") for p in self.read] + [(p, "write") for p in self.write]
        return sorted(entries, key=lambda e: (Path(e[0]).parts.__len__(), e[1] == "write"))


def expand(path: str) -> str:
    return os.path.normpath(os.path.expanduser(path))


def plan_binds(read: list[str], write: list[str], executable: str) -> BindPlan:
    for path in (expand(p) for p in [*read, *write]):
        reason = refused_grant(path)  # again after ~ is expanded (HOME may be /)
        if reason:
            raise SandboxError(reason)
    plan = BindPlan([expand(p) for p in read], [])
    for path in plan.read:
        if not os.path.lexists(path):  # bound with --ro-bind-try: simply absent inside
            log.warning(
                "read path %s does not exist, so the server will not see it%s",
                path,
                " (paths are not globs)" if any(c in path for c in "*?[") else "",
            )
    for path in (expand(p) for p in write):
        if not os.path.exists(path):
            raise SandboxError(f"write path {path} does not exist; create it or remove it from filesystem.write")
        plan.write.append(path)
    check_planted_symlinks(plan.read + plan.write, plan.write)
    roots = [*SYSTEM_DIRS, *plan.read, *plan.write]
    for hop in symlink_chain(executable):
        # A hop inside a bound directory is already there (binding a file onto a symlink inside
        # a read-only bind fails: "Can't create file"); a hop outside is bound by itself.
        if not covered(hop, roots) and hop not in plan.read:
            plan.read.append(hop)
    return plan


def check_planted_symlinks(paths: list[str], write: list[str]) -> None:
    """Refuse a policy path that leads through a symlink inside a write path: the server may
    have planted it there (on a previous run, or before exiting to be restarted), and bwrap
    would bind the target, anywhere on the host. Run at prepare and again before each spawn."""
    roots = {r for w in write for r in (w, os.path.realpath(w))}
    for path in paths:
        for root in roots:
            if not path.startswith(root.rstrip("/") + "/"):
                continue
            current = root
            for part in os.path.relpath(path, root).split("/"):
                current = os.path.join(current, part)
                if os.path.islink(current):
                    raise SandboxError(
                        f"{path}: {current} is a symbolic link inside the write path {root}, where the server "
                        "itself could have put it; grant the real path instead"
                    )


def covered(path: str, roots: list[str] | tuple[str, ...]) -> bool:
    """``path`` is one of ``roots`` or lies under one."""
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def symlink_chain(path: str, max_hops: int = 40) -> list[str]:
    """``path``, each symlink it leads through, and its real path, so that every hop the kernel
    follows at exec time exists inside the sandbox."""
    hops = [path]
    current = path
    for _ in range(max_hops):
        if not os.path.islink(current):
            break
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
        hops.append(current)
    hops.append(os.path.realpath(path))
    return list(dict.fromkeys(hops))


def build_argv(
    bwrap: str,
    command: list[str],
    binds: BindPlan,
    dirs: ServerDirs,
    cwd: str,
    *,
    share_net: bool,
    seccomp_fd: int | None,
    resolv_conf: bool,
) -> list[str]:
    argv = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL"]
    if share_net:
        argv.append("--share-net")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            argv += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            argv += ["--ro-bind", path, path]
    for entry in ETC_ENTRIES + (("resolv.conf",) if resolv_conf else ()):
        argv += ["--ro-bind-try", f"/etc/{entry}", f"/etc/{entry}"]
    # /tmp first: policy paths under /tmp are then bound on top of the server's own tmp.
    argv += ["--proc", "/proc", "--dev", "/dev", "--bind", str(dirs.tmp), "/tmp"]
    # The server's HOME and cache are ordered with the policy's paths: a read path above them
    # (e.g. "~", which holds the state dir) must not cover them with a read-only bind.
    for path, mode in BindPlan(binds.read, [*binds.write, str(dirs.home), str(dirs.cache)]).ordered():
        argv += ["--ro-bind-try" if mode == "read" else "--bind", path, path]
    argv += ["--remount-ro", "/", "--chdir", cwd]  # the root tmpfs itself stays read-only
    if seccomp_fd is not None:
        argv += ["--seccomp", str(seccomp_fd)]
    return [*argv, "--", *command]
