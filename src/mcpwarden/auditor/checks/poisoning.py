"""AUD110: poisoned tool descriptions in pinned or cached tool lists. Any JSON or YAML file
with tool objects (``name`` + ``description``) counts; known places are searched and more can
be named with ``--tools-file``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from mcpwarden.auditor import jsonc
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.files import Unreadable, read_text
from mcpwarden.auditor.injection import suspicious
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory, KeyPath, ServerEntry

MAX_TOOLS = 10_000
INTROSPECT_SCHEMA = "mcpwarden.tools/1"  # the cache files written by audit --introspect
LOCK_NAMES = (
    "mcpwarden.lock",
    "mcpwarden.lock.json",
    "mcpwarden.lock.yaml",
    "mcpwarden-tools.lock",
    ".mcpwarden/tools.lock.json",
    ".mcpwarden/tools.lock",
)


def tool_list_files(ctx: Context) -> list[Path]:
    paths = list(ctx.target.tool_lists)
    cache = ctx.target.home / ".cache" / "mcpwarden"
    for directory in (cache, cache / "tools", ctx.target.home / ".config" / "mcpwarden" / "pins"):
        if directory.is_dir():
            paths += sorted(p for p in directory.iterdir() if p.suffix in (".json", ".lock", ".yaml", ".yml"))[:200]
    for project in ctx.target.projects:
        paths += [project / name for name in LOCK_NAMES]
    return [p for p in dict.fromkeys(paths) if p.is_file()]


def _tools(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, str, str]]:
    stack: list[tuple[Any, KeyPath]] = [(data, path)]
    seen = 0
    while stack and seen < MAX_TOOLS:
        node, where = stack.pop()
        seen += 1
        if isinstance(node, dict):
            name, description = node.get("name"), node.get("description")
            if isinstance(name, str) and isinstance(description, str):
                yield where, name, description
            stack.extend((v, (*where, k)) for k, v in node.items() if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, (*where, i)) for i, v in enumerate(node) if isinstance(v, dict | list))


def _yaml_line(exc: yaml.YAMLError) -> int | None:
    mark = getattr(exc, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def _yaml_error(exc: yaml.YAMLError) -> str:
    """What is wrong and where, without PyYAML's snippet of the line (it may hold a secret)."""
    line = _yaml_line(exc)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{f'line {line}: ' if line else ''}not valid YAML ({problem})"


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for path in tool_list_files(ctx):
        kind = "yaml" if path.suffix in (".yaml", ".yml") else "json"
        config = ConfigFile(client="mcpwarden", scope="tools", path=path, kind=kind)
        try:
            config.text = read_text(path)
            config.data = yaml.safe_load(config.text) if kind == "yaml" else jsonc.loads(config.text, comments=True)
        except yaml.YAMLError as exc:
            config.error = _yaml_error(exc)
            yield ctx.finding("AUD001", config, (), f"tool list skipped: {config.error}", line=_yaml_line(exc))
            continue
        except (FileNotFoundError, Unreadable, jsonc.JsoncError, RecursionError) as exc:
            config.error = str(exc) or type(exc).__name__
            yield ctx.finding("AUD001", config, (), f"tool list skipped: {config.error}")
            continue
        server = _introspected_server(config, inventory)
        for where, name, description in _tools(config.data):
            for reason, _line in suspicious(description):
                yield ctx.finding(
                    "AUD110",
                    config,
                    (*where, "description"),
                    f"tool '{name}' has {reason.replace('-', ' ')} text in its description",
                    server=server,
                    detail=f"{name}:{reason}",
                )


def _introspected_server(config: ConfigFile, inventory: Inventory) -> ServerEntry | None:
    """For a tool list written by ``audit --introspect``: the server it came from, so the
    finding is reported under that server (and its client)."""
    data = config.data
    if not isinstance(data, dict) or data.get("schema") != INTROSPECT_SCHEMA:
        return None
    client, name = data.get("client"), data.get("server")
    for server in inventory.servers:
        if server.client == client and server.name == name:
            config.client = server.client
            return server
    return None
