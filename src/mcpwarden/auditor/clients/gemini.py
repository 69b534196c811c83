"""Gemini CLI: settings.json (user ~/.gemini, project .gemini, system /etc/gemini-cli). Servers
merge by name (project over user, system over both); ``mcp.allowed`` / ``mcp.excluded`` filter
them; ``trust: true`` skips every confirmation for that server."""

from __future__ import annotations

from typing import Any

from mcpwarden.auditor.clients.common import Discovered, entries, get_path, shadow_by_precedence
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.target import Target

CLIENT = "gemini"


def _names(data: Any, *paths: tuple[str, ...]) -> list[str] | None:
    for path in paths:
        value = get_path(data, path)
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
    return None


def discover(target: Target) -> Discovered:
    out = Discovered()
    candidates = [("user", target.home / ".gemini" / "settings.json", None)]
    candidates += [("project", p / ".gemini" / "settings.json", p) for p in target.projects]
    for parts in (
        ("etc", "gemini-cli"),
        ("Library", "Application Support", "GeminiCli"),
        ("ProgramData", "gemini-cli"),
    ):
        path = target.under_system(*parts, "settings.json")
        if path is not None:
            candidates.append(("system", path, None))
    allowed: list[str] | None = None
    excluded: set[str] = set()
    for scope, path, project in candidates:
        config = load_config(CLIENT, scope, path, "json", project)
        if config is None:
            continue
        out.files.append(config)
        out.servers += entries(config, ("mcpServers",), url_keys=("httpUrl", "url"))
        names = _names(config.data, ("mcp", "allowed"), ("allowMCPServers",))
        if names is not None:
            allowed = names
        excluded.update(_names(config.data, ("mcp", "excluded"), ("excludeMCPServers",)) or [])
    for server in out.servers:
        if "httpUrl" in server.raw:
            server.transport = "http"
        elif "url" in server.raw and not server.command:
            server.transport = "sse"
        if server.name in excluded:
            server.loads, server.why = False, "listed in mcp.excluded"
        elif allowed is not None and server.name not in allowed:
            server.loads, server.why = False, "not in mcp.allowed"
    shadow_by_precedence(out.servers, ["system", "project", "user"])
    return out
