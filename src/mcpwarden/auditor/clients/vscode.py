"""VS Code: JSONC ``mcp.json`` with key ``servers`` (plus ``inputs``), in the workspace
(.vscode/mcp.json), in the user profile, in settings.json under ``mcp`` (older releases) and
in devcontainer.json under ``customizations.vscode.mcp``. Workspace and user servers both load."""

from __future__ import annotations

from pathlib import Path

from mcpwarden.auditor.clients.common import Discovered, entries, get_path, mark_disabled_flags
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.model import ConfigFile
from mcpwarden.auditor.target import Target

CLIENT = "vscode"
PRODUCTS = ("Code", "Code - Insiders", "VSCodium")
USER_DIRS = ((".config",), ("Library", "Application Support"), ("AppData", "Roaming"))


def user_dirs(home: Path) -> list[Path]:
    return [home.joinpath(*base, product, "User") for base in USER_DIRS for product in PRODUCTS]


def _servers_in(config: ConfigFile, prefix: tuple[str, ...], out: Discovered) -> None:
    if isinstance(get_path(config.data, (*prefix, "servers")), dict):
        out.servers += entries(config, (*prefix, "servers"))


def discover(target: Target) -> Discovered:
    out = Discovered()
    candidates: list[tuple[str, Path, Path | None, tuple[str, ...]]] = []
    for directory in user_dirs(target.home):
        candidates.append(("user", directory / "mcp.json", None, ()))
        candidates.append(("user", directory / "settings.json", None, ("mcp",)))
    for project in target.projects:
        candidates.append(("workspace", project / ".vscode" / "mcp.json", project, ()))
        candidates.append(("workspace", project / ".vscode" / "settings.json", project, ("mcp",)))
        devcontainers = [project / ".devcontainer" / "devcontainer.json", project / ".devcontainer.json"]
        container_dir = project / ".devcontainer"
        if container_dir.is_dir():
            devcontainers += sorted(container_dir.glob("*/devcontainer.json"))[:50]
        for path in devcontainers:
            candidates.append(("devcontainer", path, project, ("customizations", "vscode", "mcp")))
    for scope, path, project, prefix in candidates:
        config = load_config(CLIENT, scope, path, "jsonc", project)
        if config is not None:
            out.files.append(config)
            _servers_in(config, prefix, out)
    mark_disabled_flags(out.servers)
    return out
