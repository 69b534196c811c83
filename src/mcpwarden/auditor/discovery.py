"""Find every client's files under a Target and work out which servers load."""

from __future__ import annotations

import importlib
from pathlib import Path

from mcpwarden.auditor.clients import CLIENT_MODULES, mcpwarden_policy
from mcpwarden.auditor.clients.common import Discovered, entries
from mcpwarden.auditor.clients.skills import load_skill
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.model import Inventory, ServerEntry
from mcpwarden.auditor.target import Target
from mcpwarden.auditor.wrapping import gateway_args, policy_of


def classify(path: Path) -> tuple[str, str, str, tuple[str, ...]]:
    """(client, scope, kind, key of the server map) for a file named on the command line."""
    name = path.name
    parent = path.parent.name
    if name == "SKILL.md":
        return "skills", "file", "markdown", ()
    if path.suffix in (".yaml", ".yml"):
        return "mcpwarden", "policy", "yaml", ("servers",)
    if path.suffix == ".toml":
        return "codex", "file", "toml", ("mcp_servers",)
    if name == ".claude.json":
        return "claude-code", "user", "json", ("mcpServers",)
    if name == ".mcp.json":
        return "claude-code", "project", "json", ("mcpServers",)
    if name == "claude_desktop_config.json":
        return "claude-desktop", "user", "json", ("mcpServers",)
    if name == "mcp_config.json":
        return "windsurf", "user", "json", ("mcpServers",)
    if name == "mcp.json" and parent == ".cursor":
        return "cursor", "file", "json", ("mcpServers",)
    if name == "mcp.json":
        return "vscode", "file", "jsonc", ("servers",)
    if name == "settings.json" and parent == ".gemini":
        return "gemini", "file", "json", ("mcpServers",)
    if name in ("settings.json", "settings.local.json", "managed-settings.json") and parent in (
        ".claude",
        "ClaudeCode",
        "claude-code",
    ):
        return "claude-code", "file", "json", ()
    if name == "managed-mcp.json":
        return "claude-code", "managed", "json", ("mcpServers",)
    if name == "devcontainer.json" or name == ".devcontainer.json":
        return "vscode", "devcontainer", "jsonc", ("customizations", "vscode", "mcp", "servers")
    return "file", "file", "jsonc", ("mcpServers",)


def _explicit(path: Path) -> Discovered:
    out = Discovered()
    client, scope, kind, key = classify(path)
    if client == "skills":
        out.files.append(load_skill(path, scope))
        return out
    if client == "mcpwarden":
        return mcpwarden_policy.discover(Target(home=Path("/nonexistent")), extra=[path])
    config = load_config(client, scope, path, kind)
    if config is None:
        return out
    out.files.append(config)
    if (
        client == "vscode"
        and isinstance(config.data, dict)
        and "servers" not in config.data
        and "mcpServers" in config.data
    ):
        key = ("mcpServers",)
    if key:
        out.servers += entries(config, key, url_keys=("url", "serverUrl", "httpUrl"))
    if client == "claude-code" and scope == "user" and isinstance(config.data, dict):
        projects = config.data.get("projects")
        if isinstance(projects, dict):
            for project in projects:
                out.servers += entries(config, ("projects", project, "mcpServers"), scope="local")
    return out


def discover(target: Target, clients: list[str] | None = None) -> Inventory:
    """Everything the selected clients (default: all) read. Never starts anything."""
    inventory = Inventory(home=target.home)
    wanted = [c for c in CLIENT_MODULES if clients is None or c in clients]
    found = Discovered()
    for client in wanted:
        if client == "mcpwarden":
            continue
        module = importlib.import_module(f"mcpwarden.auditor.clients.{CLIENT_MODULES[client]}")
        found.extend(module.discover(target))
    for path in target.files:
        found.extend(_explicit(path))
    if clients is None or "mcpwarden" in clients:
        named = [Path(p).expanduser() for s in found.servers if (p := policy_of(s.command, s.args))]
        known = {f.path for f in found.files}
        found.extend(mcpwarden_policy.discover(target, extra=[p for p in named if p not in known]))
    seen: set[tuple[Path, str]] = set()
    for config in found.files:
        if (config.path, config.client) not in seen:
            seen.add((config.path, config.client))
            inventory.files.append(config)
    for server in found.servers:
        _unwrap(server)
    inventory.servers = found.servers
    return inventory


def _unwrap(server: ServerEntry) -> None:
    """A wrapped entry is checked as the server it runs (after ``--``)."""
    rest = gateway_args(server.command, server.args)
    if rest is None:
        return
    server.wrapped = True
    if "--" in rest:
        inner = rest[rest.index("--") + 1 :]
        if inner:
            server.arg_offset = len(server.args) - len(inner) + 1
            server.command, server.args = inner[0], inner[1:]
