"""Lint of mcpwarden's own policies: AUD120 invalid, AUD121 allow-all roles, AUD122 HTTP front
off loopback without authentication, AUD123 monitor mode, AUD124 audit log off."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory
from mcpwarden.errors import PolicyError

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


def _http_front(config: ConfigFile, data: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    for key in ("http", "front", "listen"):
        section = data.get(key)
        if not isinstance(section, dict):
            continue
        host = str(section.get("host") or section.get("bind") or section.get("address") or "127.0.0.1")
        auth = section.get("auth", section.get("authentication"))
        no_auth = auth in (None, False, "none", "off") or (isinstance(auth, dict) and auth.get("enabled") is False)
        if host.split(":")[0] not in _LOOPBACK and no_auth and not data.get("principals"):
            yield ctx.finding(
                "AUD122", config, (key,), f"the HTTP front listens on {host} without authentication", detail=key
            )


def _lint(config: ConfigFile, data: dict[str, Any], ctx: Context) -> Iterator[Finding]:
    if data.get("mode") == "monitor":
        yield ctx.finding(
            "AUD123", config, ("mode",), "the policy is in monitor mode: nothing is denied", detail="mode"
        )
    servers = data.get("servers")
    if isinstance(servers, dict):
        for name, entry in servers.items():
            if isinstance(entry, dict) and entry.get("mode") == "monitor":
                yield ctx.finding(
                    "AUD123",
                    config,
                    ("servers", name, "mode"),
                    f"server '{name}' is in monitor mode: nothing is denied",
                    detail=f"servers.{name}",
                )
    audit = data.get("audit")
    if isinstance(audit, dict) and audit.get("enabled") is False:
        yield ctx.finding("AUD124", config, ("audit", "enabled"), "the audit log is off", detail="audit")
    roles = data.get("roles")
    if isinstance(roles, dict):
        for role, grant in roles.items():
            servers_grant = grant.get("servers") if isinstance(grant, dict) else None
            star = servers_grant.get("*") if isinstance(servers_grant, dict) else None
            if isinstance(servers_grant, dict) and "*" in servers_grant:
                tools = (star or {}).get("tools", {}) if isinstance(star, dict) else {}
                allow = tools.get("allow", ["*"]) if isinstance(tools, dict) else ["*"]
                deny = tools.get("deny", []) if isinstance(tools, dict) else []
                if "*" in allow and not deny:
                    yield ctx.finding(
                        "AUD121",
                        config,
                        ("roles", role, "servers", "*"),
                        f"role '{role}' grants every tool on every server",
                        detail=role,
                    )
    yield from _http_front(config, data, ctx)


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    from mcpwarden.policy.loader import parse_policy

    for config in inventory.files:
        if config.client != "mcpwarden" or config.kind != "yaml" or config.text is None or config.error:
            continue
        try:
            parse_policy(config.text, inventory.display(config.path))
        except PolicyError as exc:
            first = str(exc).splitlines()[0]
            line = None
            parts = first.split(":")
            if len(parts) > 2 and parts[1].strip().isdigit():
                line = int(parts[1])
            yield ctx.finding(
                "AUD120", config, (), f"invalid policy: {first.split(': ', 1)[-1]}", line=line, detail="invalid"
            )
        if isinstance(config.data, dict):
            yield from _lint(config, config.data, ctx)
