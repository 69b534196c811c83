"""A skill's declared capabilities, applied to the server a session runs.

``mcpwarden run --skill path/SKILL.md`` reads the skill's frontmatter (``allowed-tools``,
``restricted_paths``, ``network_allowed``, ``log_access``), narrows it with a risk preset
when one is named, and makes the result policy for this session. A skill can only take
away: its tool grant becomes a second tools guard (both the server's rules and the skill's
must allow a call), its paths and hosts are intersected with the server's own sandbox
settings, and a skill that declares paths or hosts for a server that has no sandbox
settings turns the sandbox on for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mcpwarden.errors import PolicyError
from mcpwarden.guards.tools import ToolsOptions
from mcpwarden.policy.schema import ServerPolicy
from mcpwarden.sandbox.options import FilesystemOptions, NetworkOptions

MAX_SKILL_BYTES = 1024 * 1024


@dataclass
class AppliedSkill:
    name: str
    preset: str | None
    server: ServerPolicy
    tools: ToolsOptions | None
    """The skill's tool grant for this server (None: the skill says nothing about tools)."""
    notes: list[str] = field(default_factory=list)


def _inside(path: str, roots: list[str]) -> bool:
    path = os.path.normpath(os.path.expanduser(path))
    for root in roots:
        root = os.path.normpath(os.path.expanduser(root))
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return True
    return False


def _narrow_filesystem(own: FilesystemOptions | None, skill: dict[str, Any], notes: list[str]) -> FilesystemOptions:
    read, write = list(skill.get("read", [])), list(skill.get("write", []))
    if own is None:
        return FilesystemOptions(read=read, write=write)
    kept_read = [p for p in read if _inside(p, own.read + own.write)]
    kept_write = [p for p in write if _inside(p, own.write)]
    dropped = sorted(set(read + write) - set(kept_read + kept_write))
    if dropped:
        notes.append(f"skill paths outside the server's own filesystem settings left out: {', '.join(dropped)}")
    return FilesystemOptions(read=kept_read, write=kept_write)


def _narrow_network(own: Any, skill: Any) -> Any:
    if skill == "none" or own == "none":
        return "none"
    skill_hosts = skill.allow if isinstance(skill, NetworkOptions) else skill.get("allow", [])
    if own is None or own == "host":
        return NetworkOptions(allow=list(skill_hosts))
    allowed = [h for h in skill_hosts if h in own.allow]
    return NetworkOptions(allow=allowed) if allowed else "none"


def apply_skill(path: str, preset: str | None, server_name: str, server: ServerPolicy) -> AppliedSkill:
    """Read SKILL.md at ``path`` and narrow ``server`` by it. Raises PolicyError with the reason."""
    from mcpwarden.auditor.frontmatter import parse_frontmatter
    from mcpwarden.auditor.skill_policy import guess_preset, skill_policy

    skill_file = Path(path)
    try:
        if skill_file.stat().st_size > MAX_SKILL_BYTES:
            raise PolicyError(f"{path}: skill file larger than {MAX_SKILL_BYTES} bytes")
        text = skill_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"{path}: cannot read skill: {getattr(exc, 'strerror', None) or exc}") from None
    frontmatter, _, error = parse_frontmatter(text)
    if frontmatter is None:
        raise PolicyError(f"{path}: {error}")
    if preset == "auto":
        preset = guess_preset(frontmatter)
    try:
        fragment = skill_policy(frontmatter, preset, project=Path.cwd())
    except (ValueError, ValidationError) as exc:
        raise PolicyError(f"{path}: {exc}") from None
    notes = list(fragment.notes)
    grant = fragment.servers.get(server_name, fragment.defaults)
    tools = ToolsOptions(**grant["tools"]) if "tools" in grant else None
    update: dict[str, Any] = {}
    if "filesystem" in fragment.defaults:
        update["filesystem"] = _narrow_filesystem(server.filesystem, fragment.defaults["filesystem"], notes)
    if "network" in fragment.defaults:
        update["network"] = _narrow_network(server.network, fragment.defaults["network"])
    narrowed = server.model_copy(update=update) if update else server
    name = str(frontmatter.get("name") or skill_file.parent.name)
    return AppliedSkill(name=name, preset=preset, server=narrowed, tools=tools, notes=notes)
