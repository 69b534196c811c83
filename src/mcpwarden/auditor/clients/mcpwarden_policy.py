"""mcpwarden's own policy files: given with --policy, written by ``protect`` under
~/.config/mcpwarden, in a project as mcpwarden.yaml, or named by a wrapped server entry."""

from __future__ import annotations

from pathlib import Path

import yaml

from mcpwarden.auditor.clients.common import Discovered, entries
from mcpwarden.auditor.files import Unreadable, exists, read_text
from mcpwarden.auditor.model import ConfigFile
from mcpwarden.auditor.target import Target

CLIENT = "mcpwarden"


def candidates(target: Target) -> list[Path]:
    found = list(target.policies)
    for directory in (target.home / ".config" / "mcpwarden", target.home / ".config" / "mcpwarden" / "policies"):
        if directory.is_dir():
            found += sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))[:100]
    for project in target.projects:
        found += [project / "mcpwarden.yaml", project / ".mcpwarden.yaml"]
    unique: list[Path] = []
    for path in found:
        if path not in unique:
            unique.append(path)
    return unique


def load_policy_file(path: Path) -> ConfigFile | None:
    config = ConfigFile(client=CLIENT, scope="policy", path=path, kind="yaml")
    if not exists(path):
        return None
    try:
        config.text = read_text(path)
    except (FileNotFoundError, Unreadable) as exc:
        config.error = str(exc) or "dangling symlink"
        return config
    try:
        config.data = yaml.safe_load(config.text)
    except yaml.YAMLError:
        config.error = "not valid YAML"
    return config


def discover(target: Target, extra: list[Path] | None = None) -> Discovered:
    out = Discovered()
    for path in candidates(target) + list(extra or []):
        config = load_policy_file(path)
        if config is None:
            continue
        out.files.append(config)
        for server in entries(config, ("servers",)):
            server.why = "launched by mcpwarden run"
            out.servers.append(server)
    return out
