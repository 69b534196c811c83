"""Codex CLI: ~/.codex/config.toml (and a project's .codex/config.toml): ``[mcp_servers.NAME]``
with command/args/env/url, ``enabled = false`` turns one off; ``approval_policy`` and
``sandbox_mode`` (also per profile) decide confirmations."""

from __future__ import annotations

from mcpwarden.auditor.clients.common import Discovered, entries, mark_disabled_flags, shadow_by_precedence
from mcpwarden.auditor.files import load_config
from mcpwarden.auditor.target import Target

CLIENT = "codex"


def discover(target: Target) -> Discovered:
    out = Discovered()
    candidates = [("user", target.home / ".codex" / "config.toml", None)]
    candidates += [("project", p / ".codex" / "config.toml", p) for p in target.projects]
    for scope, path, project in candidates:
        config = load_config(CLIENT, scope, path, "toml", project)
        if config is not None:
            out.files.append(config)
            out.servers += entries(config, ("mcp_servers",))
    mark_disabled_flags(out.servers)
    shadow_by_precedence(out.servers, ["project", "user"])
    return out
