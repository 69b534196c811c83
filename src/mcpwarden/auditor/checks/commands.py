"""AUD050: fields that run shell commands: headersHelper, apiKeyHelper and friends, hooks,
Codex ``notify``, skill ``!`cmd` `` lines."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.frontmatter import split_frontmatter
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory, KeyPath

_SETTINGS_COMMANDS = ("apiKeyHelper", "awsAuthRefresh", "awsCredentialExport", "otelHeadersHelper")
_BANG = re.compile(r"!`([^`\n]+)`")
MAX_HOOKS = 500


def _hook_commands(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every ``command`` under a ``hooks`` tree (event -> [matcher -> hooks[] -> command])."""
    stack: list[tuple[Any, KeyPath]] = [(value, path)]
    seen = 0
    while stack and seen < MAX_HOOKS:
        node, where = stack.pop()
        seen += 1
        if isinstance(node, dict):
            if node.get("type", "command") == "command" and isinstance(node.get("command"), str):
                yield (*where, "command"), node["command"]
            for key, child in node.items():
                if isinstance(child, dict | list):
                    stack.append((child, (*where, key)))
        elif isinstance(node, list):
            stack.extend((child, (*where, i)) for i, child in enumerate(node) if isinstance(child, dict | list))


def _program(command: str) -> str:
    return (command.strip().split() or ["?"])[0][:80]


def _settings(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    data = config.data if isinstance(config.data, dict) else {}
    for key in _SETTINGS_COMMANDS:
        if isinstance(data.get(key), str):
            yield ctx.finding(
                "AUD050",
                config,
                (key,),
                f"{key} runs `{_program(data[key])}` whenever credentials are needed",
                detail=key,
            )
    status = data.get("statusLine")
    if isinstance(status, dict) and isinstance(status.get("command"), str):
        yield ctx.finding(
            "AUD050",
            config,
            ("statusLine", "command"),
            f"statusLine runs `{_program(status['command'])}` continuously",
            detail="statusLine",
        )
    if "hooks" in data:
        for where, command in _hook_commands(data["hooks"], ("hooks",)):
            event = where[1] if len(where) > 1 else "?"
            yield ctx.finding(
                "AUD050",
                config,
                where,
                f"hook on {event} runs `{_program(command)}`",
                detail=f"hook:{event}:{_program(command)}",
            )
    notify = data.get("notify")
    if config.client == "codex" and isinstance(notify, list) and notify:
        yield ctx.finding(
            "AUD050", config, ("notify",), f"notify runs `{_program(str(notify[0]))}` after each turn", detail="notify"
        )


def _skill(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    if config.text is None:
        return
    if isinstance(config.data, dict) and "hooks" in config.data:
        for where, command in _hook_commands(config.data["hooks"], ("hooks",)):
            event = where[1] if len(where) > 1 else "?"
            yield ctx.finding(
                "AUD050",
                config,
                where,
                f"skill hook on {event} runs `{_program(command)}`",
                detail=f"hook:{event}:{_program(command)}",
            )
    _head, body, _ = split_frontmatter(config.text)
    offset = config.text.count("\n") - body.count("\n")
    for match in list(_BANG.finditer(body))[:50]:
        line = offset + body.count("\n", 0, match.start()) + 1
        yield ctx.finding(
            "AUD050",
            config,
            (),
            f"skill runs `{_program(match.group(1))}` when it loads",
            detail=f"bang:{match.group(1)[:200]}",
            line=line,
        )


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for server in inventory.servers:
        helper = server.raw.get("headersHelper")
        if isinstance(helper, str):
            yield ctx.finding(
                "AUD050",
                server.file,
                (*server.key, "headersHelper"),
                f"server '{server.name}' runs `{_program(helper)}` to make its headers",
                server,
                detail="headersHelper",
            )
    for config in inventory.files:
        if config.data is None and config.client != "skills":
            continue
        if config.client == "skills":
            yield from _skill(config, ctx)
        elif config.client in ("claude-code", "codex", "gemini"):
            yield from _settings(config, ctx)
