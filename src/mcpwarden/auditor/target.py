"""What to audit: a home directory, project directories, a system root for managed files,
explicit files and policies."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

MAX_PROJECTS = 200


@dataclass
class Target:
    home: Path
    projects: list[Path] = field(default_factory=list)
    system_root: Path | None = None  # None: managed (system-wide) files are not read
    files: list[Path] = field(default_factory=list)
    policies: list[Path] = field(default_factory=list)
    tool_lists: list[Path] = field(default_factory=list)
    audit_log: Path | None = None

    def under_system(self, *parts: str) -> Path | None:
        if self.system_root is None:
            return None
        return self.system_root.joinpath(*parts)

    def add_project(self, path: Path) -> None:
        if path not in self.projects and len(self.projects) < MAX_PROJECTS:
            self.projects.append(path)
