"""Agent skills: <dir>/SKILL.md with YAML frontmatter, in every known skills directory."""

from __future__ import annotations

from pathlib import Path

from mcpwarden.auditor.clients.claude_code import MANAGED_DIRS, plugin_roots
from mcpwarden.auditor.clients.common import Discovered
from mcpwarden.auditor.files import MAX_SMALL_BYTES, Unreadable, read_text, walk_files
from mcpwarden.auditor.frontmatter import parse_frontmatter
from mcpwarden.auditor.model import ConfigFile
from mcpwarden.auditor.target import Target

CLIENT = "skills"
MAX_SKILLS = 2000


def skill_dirs(target: Target) -> list[tuple[str, Path, Path | None]]:
    home = target.home
    dirs: list[tuple[str, Path, Path | None]] = [
        ("user", home / ".claude" / "skills", None),
        ("user", home / ".agents" / "skills", None),
        ("user", home / ".codex" / "skills", None),
        ("user", home / ".gemini" / "skills", None),
    ]
    for project in target.projects:
        for parts in ((".claude", "skills"), (".agents", "skills"), (".github", "skills"), (".codex", "skills")):
            dirs.append(("project", project.joinpath(*parts), project))
    dirs += [("plugin", root / "skills", None) for root in plugin_roots(target)]
    for parts in MANAGED_DIRS:
        managed = target.under_system(*parts, ".claude", "skills")
        if managed is not None:
            dirs.append(("managed", managed, None))
    return dirs


def load_skill(path: Path, scope: str, project: Path | None = None) -> ConfigFile:
    config = ConfigFile(client=CLIENT, scope=scope, path=path, kind="markdown", project=project)
    try:
        config.text = read_text(path, MAX_SMALL_BYTES)
    except FileNotFoundError:
        config.error = "dangling symlink"
        return config
    except Unreadable as exc:
        config.error = str(exc)
        return config
    config.data, _body, config.error = parse_frontmatter(config.text)
    return config


def discover(target: Target) -> Discovered:
    out = Discovered()
    for scope, directory, project in skill_dirs(target):
        if not directory.is_dir():
            continue
        for path in walk_files(directory, {"SKILL.md"}, max_depth=3):
            if len(out.files) >= MAX_SKILLS:
                return out
            out.files.append(load_skill(path, scope, project))
    return out
