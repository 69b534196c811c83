"""Claude Desktop: claude_desktop_config.json (``mcpServers``), wherever each OS keeps it."""

from __future__ import annotations

from mcpwarden.auditor.clients.common import Discovered, entries
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.target import Target

CLIENT = "claude-desktop"
LOCATIONS = (
    (".config", "Claude"),
    ("Library", "Application Support", "Claude"),
    ("AppData", "Roaming", "Claude"),
)


def discover(target: Target) -> Discovered:
    out = Discovered()
    for parts in LOCATIONS:
        config = load_config(CLIENT, "user", target.home.joinpath(*parts, "claude_desktop_config.json"), "json")
        if config is not None:
            out.files.append(config)
            out.servers += entries(config, ("mcpServers",))
    return out
