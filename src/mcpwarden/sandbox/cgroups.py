"""Per-server control groups: memory, pids and cpu limits for the server and everything it
starts. cgroup v2 is used where the gateway's own cgroup is delegated to it (writable, with
the controllers enabled); cgroup v1 where the gateway may create groups in the memory, pids
and cpu hierarchies (typically as root). The child joins its group in preexec, before exec.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000


def _own_paths() -> dict[str, str]:
    """controller -> this process's cgroup path, from /proc/self/cgroup ("" key = v2)."""
    paths: dict[str, str] = {}
    try:
        text = Path("/proc/self/cgroup").read_text()
    except OSError:
        return paths
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def _v2_mount() -> Path | None:
    for candidate in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (candidate / "cgroup.controllers").exists():
            return candidate
    return None


def _try_mkdir(parent: Path) -> bool:
    probe = parent / f"mcpwarden-probe-{os.getpid()}"
    try:
        probe.mkdir()
    except OSError:
        return False
    with contextlib.suppress(OSError):
        probe.rmdir()
    return True


@dataclass(frozen=True)
class CgroupSupport:
    """Where per-server groups can be made. ``v2`` is a parent directory; ``v1`` maps a
    controller to its parent directory."""

    v2: Path | None = None
    v2_controllers: frozenset[str] = frozenset()
    v1: dict[str, Path] = field(default_factory=dict)

    def controllers(self) -> frozenset[str]:
        return self.v2_controllers if self.v2 else frozenset(self.v1)

    def describe(self) -> str:
        if self.v2:
            return f"v2 delegated at {self.v2} ({', '.join(sorted(self.v2_controllers)) or 'no controllers'})"
        if self.v1:
            return "v1 " + ", ".join(f"{c} at {p}" for c, p in sorted(self.v1.items()))
        return "none writable"


def detect() -> CgroupSupport:
    own = _own_paths()
    mount = _v2_mount()
    if mount is not None and "" in own:
        parent = mount / own[""].lstrip("/")
        try:
            available = set((parent / "cgroup.controllers").read_text().split())
        except OSError:
            available = set()
        wanted = available & {"memory", "pids", "cpu"}
        # A group with processes cannot enable controllers for children ("no internal
        # processes"), so only a parent whose subtree_control already lists them is usable.
        try:
            enabled = set((parent / "cgroup.subtree_control").read_text().split())
        except OSError:
            enabled = set()
        usable = wanted & enabled
        if usable and _try_mkdir(parent):
            return CgroupSupport(v2=parent, v2_controllers=frozenset(usable))
    v1: dict[str, Path] = {}
    for controller in ("memory", "pids", "cpu"):
        hierarchy = CGROUP_ROOT / controller
        if controller not in own or not (hierarchy / "cgroup.procs").exists():
            continue
        parent = hierarchy / own[controller].lstrip("/")
        if _try_mkdir(parent):
            v1[controller] = parent
    return CgroupSupport(v1=v1)


class ServerCgroup:
    """The group(s) of one server. Created once by prepare(), joined by each spawn."""

    def __init__(self, support: CgroupSupport, name: str):
        self.support = support
        leaf = f"mcpwarden-{name}-{os.getpid()}"
        if support.v2:
            self.dirs = {c: support.v2 / leaf for c in support.v2_controllers}
        else:
            self.dirs = {c: parent / leaf for c, parent in support.v1.items()}
        self._procs_files: list[bytes] = []

    def create(self, memory: int | None, pids: int | None, cpu: float | None) -> set[str]:
        """Make the group(s) and write the limits; returns the controllers that got a limit."""
        limited: set[str] = set()
        for directory in set(self.dirs.values()):
            directory.mkdir(exist_ok=True)
        if self.support.v2:
            directory = next(iter(self.dirs.values()))
            if memory is not None and "memory" in self.dirs:
                (directory / "memory.max").write_text(str(memory))
                with contextlib.suppress(OSError):
                    (directory / "memory.swap.max").write_text("0")
                limited.add("memory")
            if pids is not None and "pids" in self.dirs:
                (directory / "pids.max").write_text(str(pids))
                limited.add("pids")
            if cpu is not None and "cpu" in self.dirs:
                (directory / "cpu.max").write_text(f"{int(cpu * CPU_PERIOD_US)} {CPU_PERIOD_US}")
                limited.add("cpu")
        else:
            if memory is not None and "memory" in self.dirs:
                (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory))
                with contextlib.suppress(OSError):
                    (self.dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(memory))
                limited.add("memory")
            if pids is not None and "pids" in self.dirs:
                (self.dirs["pids"] / "pids.max").write_text(str(pids))
                limited.add("pids")
            if cpu is not None and "cpu" in self.dirs:
                (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
                (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(int(cpu * CPU_PERIOD_US)))
                limited.add("cpu")
        self._procs_files = [str(d / "cgroup.procs").encode() for d in set(self.dirs.values())]
        return limited

    def join(self) -> None:
        """Move the calling process into the group(s). Runs in the child before exec."""
        for path in self._procs_files:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, b"0")
            finally:
                os.close(fd)

    def remove(self, wait: float = 2.0) -> None:
        """Remove the group(s); waits briefly for exiting processes, then gives up quietly."""
        deadline = time.monotonic() + wait
        for directory in set(self.dirs.values()):
            while True:
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
