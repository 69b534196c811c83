"""Skills as policy: a SKILL.md's capability declarations, narrowed by a risk preset, become
policy fragments for the session that uses the skill.

    fragment = skill_policy(frontmatter, preset="documents", project=Path("/repo"))
    fragment.defaults   # ServerSettings-shaped dict for every server of the session
    fragment.servers    # {server name: ServerSettings-shaped dict} from mcp__server__tool entries
    fragment.client_tools, fragment.notes

Frontmatter keys read:

    allowed-tools      "Read Bash(git:*) mcp__github__get_issue" or a list. MCP entries
                       (mcp__SERVER, mcp__SERVER__*, mcp__SERVER__TOOL) become per-server tool
                       allow lists, and every other server's tools are denied; other entries
                       are client tools (returned, not enforced here).
    restricted_paths   [paths] (read and write) or {read: [...], write: [...]}; relative to the project.
    network_allowed    false | true | [hosts]
    log_access         false (default): log directories are never granted; true: readable.

A preset can only narrow: its network "none" wins, host lists intersect, and declared paths
outside the preset's directories are dropped (with a note).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcpwarden.auditor.checks.skills import allowed_tools
from mcpwarden.auditor.presets import SKILL_PRESETS

LOG_DIRS = ("/var/log", "~/.local/state", "~/Library/Logs")
PRESET_HINTS = {
    "documents": ("pdf", "docx", "xlsx", "pptx", "document", "spreadsheet", "slides"),
    "visual-design": ("design", "brand", "canvas", "figma", "theme", "ui"),
    "tdd": ("tdd", "test-driven", "unit test", "tests first"),
    "generative-art": ("generative", "algorithmic art", "p5", "art"),
    "memory": ("memory", "remember", "notes"),
}


@dataclass
class SkillPolicy:
    defaults: dict[str, Any] = field(default_factory=dict)
    servers: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_tools: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def guess_preset(frontmatter: dict[str, Any]) -> str | None:
    """The preset a skill's name and description suggest, or None."""
    text = f"{frontmatter.get('name', '')} {frontmatter.get('description', '')}".lower()
    for preset, words in PRESET_HINTS.items():
        if any(word in text for word in words):
            return preset
    return None


def _expand(path: str, base: Path, home: Path) -> str:
    if path == "~" or path.startswith("~/"):
        return os.path.normpath(str(home) + path[1:])
    return os.path.normpath(path if os.path.isabs(path) else str(base / path))


def _inside(path: str, roots: list[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def _declared_paths(value: Any, project: Path, home: Path) -> tuple[list[str], list[str]] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        paths = [_expand(str(p), project, home) for p in value if isinstance(p, str | Path)]
        return [], paths
    if isinstance(value, dict):
        read = [_expand(str(p), project, home) for p in value.get("read") or [] if isinstance(p, str)]
        write = [_expand(str(p), project, home) for p in value.get("write") or [] if isinstance(p, str)]
        return read, write
    raise ValueError("restricted_paths must be a list of paths or a mapping with read/write lists")


def _network(value: Any) -> Any:
    if value is None or value is True:
        return None
    if value is False or value in ("none", "off", "no"):
        return "none"
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return {"allow": [str(h) for h in value if isinstance(h, str) and h]}
    raise ValueError("network_allowed must be true, false or a list of hosts")


def _narrow_network(preset: Any, declared: Any) -> Any:
    if preset == "none" or declared == "none":
        return "none"
    if preset is None:
        return declared
    if declared is None:
        return preset
    allowed = [h for h in declared["allow"] if h in preset["allow"]]
    return {"allow": allowed} if allowed else "none"


def _fill(entry: dict[str, Any], dirs: dict[str, str]) -> dict[str, Any]:
    entry = copy.deepcopy(entry)
    fs = entry.get("filesystem")
    if isinstance(fs, dict):
        for key in ("read", "write"):
            fs[key] = [p.format(**dirs) for p in fs.get(key, [])]
    return entry


def skill_policy(
    frontmatter: dict[str, Any],
    preset: str | None = None,
    *,
    project: Path,
    home: Path | None = None,
    dirs: dict[str, Path] | None = None,
) -> SkillPolicy:
    """Policy fragments for a session using this skill. Raises ValueError on a malformed declaration."""
    home = home or Path(os.path.expanduser("~"))
    name = str(frontmatter.get("name") or "skill")
    places = {
        "project": project,
        "tests": project / "tests",
        "output": project / "output",
        "documents": project,
        "memory": home / ".local" / "share" / "mcpwarden" / "memory" / name,
    }
    places.update(dirs or {})
    filled = {k: os.path.normpath(str(v)) for k, v in places.items()}
    if preset is not None and preset not in SKILL_PRESETS:
        raise ValueError(f"unknown skill preset {preset!r}; known: {', '.join(SKILL_PRESETS)}")
    out = SkillPolicy()
    base = _fill(SKILL_PRESETS[preset], filled) if preset else {}

    network = _narrow_network(base.get("network"), _network(frontmatter.get("network_allowed")))
    if network is not None:
        out.defaults["network"] = network

    preset_fs = base.get("filesystem")
    declared = _declared_paths(frontmatter.get("restricted_paths"), project, home)
    read: list[str] = list(preset_fs.get("read", [])) if preset_fs else []
    write: list[str] = list(preset_fs.get("write", [])) if preset_fs else []
    if declared is not None:
        roots = read + write
        d_read, d_write = declared
        if preset_fs:
            for path in [p for p in d_read + d_write if not _inside(p, roots)]:
                out.notes.append(f"restricted_paths entry {path} lies outside the {preset} preset; left out")
            d_read = [p for p in d_read if _inside(p, roots)]
            d_write = [p for p in d_write if _inside(p, write)]
        read, write = d_read, d_write
    logs = [_expand(p, project, home) for p in LOG_DIRS]
    if frontmatter.get("log_access") is True:
        read += [p for p in logs if p not in read]
    else:
        kept_read = [p for p in read if not _inside(p, logs)]
        kept_write = [p for p in write if not _inside(p, logs)]
        if (len(kept_read), len(kept_write)) != (len(read), len(write)):
            out.notes.append("log directories left out: the skill does not declare log_access: true")
        read, write = kept_read, kept_write
    if preset_fs is not None or declared is not None or frontmatter.get("log_access") is True:
        out.defaults["filesystem"] = {"read": read, "write": write}

    tools = allowed_tools(frontmatter.get("allowed-tools"))
    mcp = [t for t in tools if t.startswith("mcp__")]
    out.client_tools = [t for t in tools if not t.startswith("mcp__")]
    if "allowed-tools" in frontmatter:
        out.defaults["tools"] = {"allow": []}  # servers the skill does not name get no tools
        for entry in mcp:
            parts = entry.split("__", 2)
            server = parts[1] if len(parts) > 1 else ""
            tool = parts[2] if len(parts) > 2 and parts[2] else "*"
            if not server or "*" in server:
                out.notes.append(f"allowed-tools entry {entry} names no single server; not granted")
                continue
            grant = out.servers.setdefault(server, {"tools": {"allow": []}})
            if tool not in grant["tools"]["allow"]:
                grant["tools"]["allow"].append(tool)
    _validate(out)
    return out


def _validate(fragment: SkillPolicy) -> None:
    from mcpwarden.policy.schema import ServerSettings

    ServerSettings.model_validate(fragment.defaults)
    for entry in fragment.servers.values():
        ServerSettings.model_validate(entry)
