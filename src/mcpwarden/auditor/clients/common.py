"""Pieces every client module uses: reading an ``mcpServers``-style map into ServerEntry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcpwarden.auditor.model import ConfigFile, KeyPath, ServerEntry, Transport

MAX_SERVERS_PER_FILE = 500


@dataclass
class Discovered:
    files: list[ConfigFile] = field(default_factory=list)
    servers: list[ServerEntry] = field(default_factory=list)

    def extend(self, other: Discovered) -> None:
        self.files.extend(other.files)
        self.servers.extend(other.servers)


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    if isinstance(value, str):
        return [value]
    return []


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float | bool)}


def get_path(data: Any, path: KeyPath) -> Any:
    for part in path:
        if isinstance(part, int) and isinstance(data, list) and 0 <= part < len(data):
            data = data[part]
        elif isinstance(part, str) and isinstance(data, dict):
            data = data.get(part)
        else:
            return None
    return data


def transport_of(raw: dict[str, Any], url: str | None) -> Transport:
    kind = str(raw.get("type") or raw.get("transport") or "").lower().replace("_", "-")
    if kind == "sse":
        return "sse"
    if kind in ("http", "streamable-http", "streamablehttp") or (url and not raw.get("command")):
        return "http"
    return "stdio"


def entries(
    config: ConfigFile,
    key: KeyPath,
    scope: str | None = None,
    url_keys: tuple[str, ...] = ("url",),
    name_prefix: str = "",
) -> list[ServerEntry]:
    """Server entries under ``key`` of ``config`` (a mapping name -> entry). Non-mapping entries are skipped."""
    servers = get_path(config.data, key)
    out: list[ServerEntry] = []
    if not isinstance(servers, dict):
        return out
    for name, raw in list(servers.items())[:MAX_SERVERS_PER_FILE]:
        if not isinstance(raw, dict):
            continue
        url = next((raw[k] for k in url_keys if isinstance(raw.get(k), str)), None)
        command = raw.get("command") if isinstance(raw.get("command"), str) else None
        out.append(
            ServerEntry(
                client=config.client,
                scope=scope or config.scope,
                name=f"{name_prefix}{name}",
                file=config,
                key=(*key, name),
                raw=raw,
                transport=transport_of(raw, url),
                command=command,
                args=_strings(raw.get("args")),
                env=_string_map(raw.get("env")),
                url=url,
                headers=_string_map(raw.get("headers") or raw.get("http_headers")),
            )
        )
    return out


def mark_disabled_flags(servers: list[ServerEntry]) -> None:
    """Honour per-entry ``disabled: true`` / ``enabled: false``."""
    for server in servers:
        if server.raw.get("disabled") is True:
            server.loads, server.why = False, "disabled: true"
        elif server.raw.get("enabled") is False:
            server.loads, server.why = False, "enabled = false"


def shadow_by_precedence(servers: list[ServerEntry], order: list[str]) -> None:
    """Where two scopes define one name, the scope earlier in ``order`` wins (whole entry)."""
    best: dict[str, int] = {}
    for server in servers:
        rank = order.index(server.scope) if server.scope in order else len(order)
        best[server.name] = min(best.get(server.name, rank), rank)
    for server in servers:
        rank = order.index(server.scope) if server.scope in order else len(order)
        if server.loads and rank > best[server.name]:
            server.loads, server.why = (
                False,
                f"overridden by the {order[best[server.name]]}-scope entry of the same name",
            )
