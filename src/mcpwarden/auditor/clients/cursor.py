"""Cursor: ~/.cursor/mcp.json (global) and <project>/.cursor/mcp.json; the project entry wins."""

from __future__ import annotations

from mcpwarden.auditor.clients.common import Discovered, entries, mark_disabled_flags, shadow_by_precedence
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.target import Target

CLIENT = "cursor"


def discover(target: Target) -> Discovered:
    out = Discovered()
    candidates = [("user", target.home / ".cursor" / "mcp.json", None)]
    candidates += [("project", p / ".cursor" / "mcp.json", p) for p in target.projects]
    for scope, path, project in candidates:
        config = load_config(CLIENT, scope, path, "json", project)
        if config is not None:
            out.files.append(config)
            out.servers += entries(config, ("mcpServers",), url_keys=("url", "serverUrl"))
    mark_disabled_flags(out.servers)
    shadow_by_precedence(out.servers, ["project", "user"])
    return out
