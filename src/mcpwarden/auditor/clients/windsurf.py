"""Windsurf: ~/.codeium/windsurf/mcp_config.json (``mcpServers``, remote servers use ``serverUrl``)."""

from __future__ import annotations

from mcpwarden.auditor.clients.common import Discovered, entries, mark_disabled_flags
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.target import Target

CLIENT = "windsurf"


def discover(target: Target) -> Discovered:
    out = Discovered()
    for parts in ((".codeium", "windsurf", "mcp_config.json"), (".codeium", "windsurf-next", "mcp_config.json")):
        config = load_config(CLIENT, "user", target.home.joinpath(*parts), "json")
        if config is not None:
            out.files.append(config)
            out.servers += entries(config, ("mcpServers",), url_keys=("serverUrl", "url"))
    mark_disabled_flags(out.servers)
    return out
