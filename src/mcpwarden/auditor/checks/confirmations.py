"""AUD060: settings that let tools run without asking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory

_BROAD_MCP = re.compile(r"^mcp__\*|^mcp__[^_]*\*|^mcp__$")
_SERVER_WIDE = re.compile(r"^mcp__[A-Za-z0-9_.-]+?(?:__\*)?$")


def _allow_rules(config: ConfigFile, allow: Any, key: tuple[str, ...], ctx: Context) -> Iterator[Finding]:
    if not isinstance(allow, list):
        return
    for i, rule in enumerate(allow):
        if not isinstance(rule, str):
            continue
        if rule in ("*", "mcp__*") or _BROAD_MCP.match(rule):
            yield ctx.finding(
                "AUD060",
                config,
                (*key, i),
                f"allow rule '{rule}' lets every tool of every MCP server run without asking",
                detail=f"{'.'.join(key[:-1])}:allow:{rule}",
            )
        elif (rule.startswith("mcp__") and rule.count("__") == 1) or (rule.endswith("__*") and rule.count("__") == 2):
            yield ctx.finding(
                "AUD060",
                config,
                (*key, i),
                f"allow rule '{rule}' lets every tool of one server run without asking",
                detail=f"{'.'.join(key[:-1])}:allow:{rule}",
                severity="low",
            )


def _claude(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    data = config.data
    permissions = data.get("permissions")
    if isinstance(permissions, dict):
        if permissions.get("defaultMode") == "bypassPermissions":
            yield ctx.finding(
                "AUD060",
                config,
                ("permissions", "defaultMode"),
                "defaultMode is bypassPermissions: every tool runs without asking",
                detail="bypassPermissions",
            )
        yield from _allow_rules(config, permissions.get("allow"), ("permissions", "allow"), ctx)
    projects = data.get("projects")
    if isinstance(projects, dict):  # ~/.claude.json keeps per-project allowedTools
        for project, entry in projects.items():
            if isinstance(entry, dict):
                yield from _allow_rules(config, entry.get("allowedTools"), ("projects", project, "allowedTools"), ctx)
    if data.get("skipDangerousModePermissionPrompt") is True:
        yield ctx.finding(
            "AUD060",
            config,
            ("skipDangerousModePermissionPrompt",),
            "skipDangerousModePermissionPrompt hides the warning before bypass mode",
            detail="skipDangerousModePermissionPrompt",
        )
    if data.get("enableAllProjectMcpServers") is True:
        yield ctx.finding(
            "AUD060",
            config,
            ("enableAllProjectMcpServers",),
            "enableAllProjectMcpServers starts every server a cloned repository's .mcp.json names, without asking",
            severity="medium",
            detail="enableAllProjectMcpServers",
        )
    if data.get("bypassPermissionsModeAccepted") is True:
        yield ctx.finding(
            "AUD060",
            config,
            ("bypassPermissionsModeAccepted",),
            "bypass-permissions mode has been accepted on this machine",
            severity="medium",
            detail="bypassPermissionsModeAccepted",
        )


def _gemini(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    data = config.data
    servers = data.get("mcpServers")
    if isinstance(servers, dict):
        for name, entry in servers.items():
            if isinstance(entry, dict) and entry.get("trust") is True:
                yield ctx.finding(
                    "AUD060",
                    config,
                    ("mcpServers", name, "trust"),
                    f"server '{name}' has trust: true, so its tools run without confirmation",
                    detail=f"trust:{name}",
                )
    for path in (("autoAccept",), ("tools", "autoAccept")):
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is True:
            yield ctx.finding(
                "AUD060", config, path, "autoAccept runs tool calls without confirmation", detail=".".join(path)
            )
    approval = data.get("general", {}).get("defaultApprovalMode") if isinstance(data.get("general"), dict) else None
    if approval == "yolo":
        yield ctx.finding(
            "AUD060",
            config,
            ("general", "defaultApprovalMode"),
            "defaultApprovalMode is yolo: every tool runs without asking",
            detail="yolo",
        )


def _codex_table(config: ConfigFile, table: dict[str, Any], prefix: tuple[str, ...], ctx: Context) -> Iterator[Finding]:
    if table.get("approval_policy") == "never":
        yield ctx.finding(
            "AUD060",
            config,
            (*prefix, "approval_policy"),
            'approval_policy = "never": commands and tools run without asking',
            detail=".".join((*prefix, "approval_policy")),
        )
    if table.get("sandbox_mode") == "danger-full-access":
        yield ctx.finding(
            "AUD060",
            config,
            (*prefix, "sandbox_mode"),
            'sandbox_mode = "danger-full-access": no sandbox around commands',
            detail=".".join((*prefix, "sandbox_mode")),
        )


def _codex(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    yield from _codex_table(config, config.data, (), ctx)
    profiles = config.data.get("profiles")
    if isinstance(profiles, dict):
        for name, table in profiles.items():
            if isinstance(table, dict):
                yield from _codex_table(config, table, ("profiles", name), ctx)


def _vscode(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    for key in ("chat.tools.autoApprove", "chat.tools.global.autoApprove"):
        if config.data.get(key) is True:
            yield ctx.finding("AUD060", config, (key,), f"{key} runs every tool without confirmation", detail=key)


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    handlers = {"claude-code": _claude, "gemini": _gemini, "codex": _codex, "vscode": _vscode}
    for config in inventory.files:
        handler = handlers.get(config.client)
        if handler and isinstance(config.data, dict):
            yield from handler(config, ctx)
