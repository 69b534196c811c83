"""Claude Code: ~/.claude.json (user scope and the per-project ``projects`` map = local scope),
<project>/.mcp.json (project scope, needs approval), plugins, managed files and settings.

Precedence: managed-mcp.json, when present, is the only source; otherwise local > project >
user, the whole entry wins. Project servers load only once approved (enabledMcpjsonServers or
enableAllProjectMcpServers) and not disabled. deniedMcpServers (all scopes merged) beats
allowedMcpServers; with allowManagedMcpServersOnly only the managed allowlist counts.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import Any

from mcpwarden.auditor.clients.common import Discovered, entries, get_path
from mcpwarden.auditor.files import load_config, walk_files
from mcpwarden.auditor.model import ConfigFile, ServerEntry
from mcpwarden.auditor.target import Target

CLIENT = "claude-code"
MAX_PROJECT_ENTRIES = 50_000  # every entry is read: a project map cut short would hide servers
MANAGED_DIRS = (
    ("etc", "claude-code"),
    ("Library", "Application Support", "ClaudeCode"),
    ("Program Files", "ClaudeCode"),
    ("ProgramData", "ClaudeCode"),
)


def managed_files(target: Target, name: str) -> list[Path]:
    out = []
    for parts in MANAGED_DIRS:
        path = target.under_system(*parts, name)
        if path is not None:
            out.append(path)
    return out


def settings_files(target: Target) -> list[tuple[str, Path, Path | None]]:
    found: list[tuple[str, Path, Path | None]] = [("user", target.home / ".claude" / "settings.json", None)]
    for project in target.projects:
        found.append(("project", project / ".claude" / "settings.json", project))
        found.append(("local", project / ".claude" / "settings.local.json", project))
    found.extend(("managed", path, None) for path in managed_files(target, "managed-settings.json"))
    return found


def plugin_roots(target: Target) -> list[Path]:
    base = target.home / ".claude" / "plugins"
    roots = [
        manifest.parent.parent
        for manifest in walk_files(base, {"plugin.json"}, max_depth=7)
        if manifest.parent.name == ".claude-plugin"
    ]
    return sorted(set(roots))


def _plugin_enabled(name: str, settings: list[ConfigFile]) -> bool | None:
    verdict: bool | None = None
    for config in settings:
        enabled = get_path(config.data, ("enabledPlugins",))
        if isinstance(enabled, dict):
            for key, value in enabled.items():
                if isinstance(key, str) and (key == name or key.split("@", 1)[0] == name):
                    verdict = bool(value)
    return verdict


def _discover_plugins(target: Target, settings: list[ConfigFile], out: Discovered) -> None:
    for root in plugin_roots(target):
        manifest = load_config(CLIENT, "plugin", root / ".claude-plugin" / "plugin.json", "json")
        if manifest is None:
            continue
        out.files.append(manifest)
        name = get_path(manifest.data, ("name",))
        name = name if isinstance(name, str) else root.name
        enabled = _plugin_enabled(name, settings)
        plugin_servers: list[ServerEntry] = []
        inline = get_path(manifest.data, ("mcpServers",))
        if isinstance(inline, dict):
            plugin_servers += entries(manifest, ("mcpServers",), name_prefix=f"plugin:{name}:")
        mcp_files = [root / ".mcp.json"]
        if isinstance(inline, str):
            mcp_files.append((root / inline).resolve() if not Path(inline).is_absolute() else Path(inline))
        for path in mcp_files:
            config = load_config(CLIENT, "plugin", path, "json")
            if config is not None:
                out.files.append(config)
                key = ("mcpServers",) if isinstance(get_path(config.data, ("mcpServers",)), dict) else ()
                plugin_servers += entries(config, key, name_prefix=f"plugin:{name}:")
        hooks = load_config(CLIENT, "plugin", root / "hooks" / "hooks.json", "json")
        if hooks is not None:
            out.files.append(hooks)
        for server in plugin_servers:
            if enabled is False:
                server.loads, server.why = False, f"plugin {name} is disabled in enabledPlugins"
            elif enabled is None:
                server.loads, server.why = False, f"plugin {name} is installed but not enabled"
            else:
                server.why = f"plugin {name} is enabled"
        out.servers += plugin_servers


def _rule_matches(rule: Any, server: ServerEntry) -> bool:
    if not isinstance(rule, dict):
        return False
    if "serverName" in rule:
        return rule["serverName"] == server.name
    if "serverCommand" in rule and isinstance(rule["serverCommand"], list):
        return server.transport == "stdio" and rule["serverCommand"] == [server.command, *server.args]
    if "serverUrl" in rule and isinstance(rule["serverUrl"], str):
        return server.url is not None and fnmatch.fnmatchcase(server.url, rule["serverUrl"])
    return False


def _allowed(server: ServerEntry, allow: list[Any]) -> bool:
    rules = [r for r in allow if isinstance(r, dict)]
    by_kind = "serverCommand" if server.transport == "stdio" else "serverUrl"
    if any(by_kind in r for r in rules):
        return any(_rule_matches(r, server) for r in rules if by_kind in r)
    return any(_rule_matches(r, server) for r in rules if "serverName" in r)


def _apply_lists(servers: list[ServerEntry], settings: list[ConfigFile]) -> None:
    denied: list[Any] = []
    allow_lists: list[tuple[str, list[Any]]] = []
    managed_only = False
    for config in settings:
        deny = get_path(config.data, ("deniedMcpServers",))
        if isinstance(deny, list):
            denied += deny
        allow = get_path(config.data, ("allowedMcpServers",))
        if isinstance(allow, list):
            allow_lists.append((config.scope, allow))
        if config.scope == "managed" and get_path(config.data, ("allowManagedMcpServersOnly",)) is True:
            managed_only = True
    if managed_only:
        allow_lists = [(scope, rules) for scope, rules in allow_lists if scope == "managed"]
    merged_allow = [rule for _, rules in allow_lists for rule in rules] if allow_lists else None
    for server in servers:
        if not server.loads:
            continue
        if any(_rule_matches(rule, server) for rule in denied):
            server.loads, server.why = False, "blocked by deniedMcpServers"
        elif merged_allow is not None and not _allowed(server, merged_allow):
            server.loads, server.why = False, "not in allowedMcpServers"


def _approved(name: str, project: Path, user: ConfigFile | None, settings: list[ConfigFile]) -> tuple[bool, str]:
    sources: list[Any] = []
    if user is not None:
        sources.append(get_path(user.data, ("projects", str(project))))
    sources += [c.data for c in settings if c.project in (None, project)]
    enabled_all = False
    enabled: set[str] = set()
    disabled: set[str] = set()
    for data in sources:
        if not isinstance(data, dict):
            continue
        enabled_all = enabled_all or data.get("enableAllProjectMcpServers") is True
        for key, bucket in (("enabledMcpjsonServers", enabled), ("disabledMcpjsonServers", disabled)):
            value = data.get(key)
            if isinstance(value, list):
                bucket.update(v for v in value if isinstance(v, str))
    if name in disabled:
        return False, "listed in disabledMcpjsonServers"
    if enabled_all:
        return True, "approved by enableAllProjectMcpServers"
    if name in enabled:
        return True, "approved in enabledMcpjsonServers"
    return False, "project server not approved yet (Claude Code asks before loading it)"


def discover(target: Target) -> Discovered:
    out = Discovered()
    user = load_config(CLIENT, "user", target.home / ".claude.json", "json")
    if user is not None:
        out.files.append(user)
        out.servers += entries(user, ("mcpServers",))
        projects = get_path(user.data, ("projects",))
        if isinstance(projects, dict):
            for project_path, project_data in list(projects.items())[:MAX_PROJECT_ENTRIES]:
                if not isinstance(project_data, dict):
                    continue
                local = entries(user, ("projects", project_path, "mcpServers"), scope="local")
                disabled = project_data.get("disabledMcpServers")
                for server in local:
                    server.file = user
                    if isinstance(disabled, list) and server.name in disabled:
                        server.loads, server.why = False, "listed in disabledMcpServers"
                out.servers += local
                path = Path(project_path)
                if path.is_absolute() and path.is_dir():
                    target.add_project(path)

    settings: list[ConfigFile] = []
    for scope, path, project in settings_files(target):
        config = load_config(CLIENT, scope, path, "json", project)
        if config is not None:
            settings.append(config)
            out.files.append(config)

    project_servers: list[ServerEntry] = []
    for project in target.projects:
        config = load_config(CLIENT, "project", project / ".mcp.json", "json", project)
        if config is None:
            continue
        out.files.append(config)
        for server in entries(config, ("mcpServers",)):
            ok, why = _approved(server.name, project, user, settings)
            server.loads, server.why = ok, why
            local_names = {s.name for s in out.servers if s.scope == "local" and s.key[1:2] == (str(project),)}
            if server.name in local_names:
                server.loads, server.why = False, "overridden by the local-scope entry of the same name"
            project_servers.append(server)
    out.servers += project_servers

    _discover_plugins(target, settings, out)

    # A user entry is shadowed only in projects that define the same name; it still loads elsewhere.
    for server in out.servers:
        if server.scope == "user":
            shadowing = sorted(
                {
                    s.key[1] if s.scope == "local" else str(s.file.project)
                    for s in out.servers
                    if s.scope in ("local", "project") and s.name == server.name
                }
            )
            if shadowing:
                server.why = f"user scope; overridden in {', '.join(str(p) for p in shadowing[:3])}"

    managed: list[ServerEntry] = []
    for path in managed_files(target, "managed-mcp.json"):
        config = load_config(CLIENT, "managed", path, "json")
        if config is not None:
            out.files.append(config)
            if isinstance(config.data, dict):
                managed += entries(config, ("mcpServers",))
                for server in out.servers:
                    server.loads, server.why = False, f"managed-mcp.json ({path}) takes exclusive control"
    for server in managed:
        server.why = "managed-mcp.json"
    out.servers += managed
    _apply_lists(out.servers, settings)
    return out
