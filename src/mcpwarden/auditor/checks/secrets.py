"""AUD020 plaintext secrets (env, args, headers, URLs, env files, settings env) and AUD021
secret-named variables forwarded from the environment. Messages name the key, never the value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from mcpwarden.auditor.checks.args import arg_values
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.files import MAX_SMALL_BYTES, Unreadable, read_text
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory, ServerEntry
from mcpwarden.auditor.secrets import is_secret_name, references


def _env_file_path(server: ServerEntry, value: str) -> Path:
    path = Path(value.replace("${workspaceFolder}", str(server.file.project or server.file.path.parent)))
    path = Path(str(path).replace("${userHome}", "~")).expanduser()
    return path if path.is_absolute() else (server.file.project or server.file.path.parent) / path


def _env_file(server: ServerEntry, ctx: Context) -> Iterator[Finding]:
    value = server.raw.get("envFile")
    if not isinstance(value, str):
        return
    path = _env_file_path(server, value)
    try:
        text = read_text(path, MAX_SMALL_BYTES)
    except (FileNotFoundError, Unreadable):
        return
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, raw = line.removeprefix("export ").partition("=")
        kind = ctx.scanner.kind(raw.strip().strip("'\""), name.strip())
        if kind:
            config = ConfigFile(client=server.client, scope=server.scope, path=path, kind="text")
            finding = ctx.finding(
                "AUD020",
                config,
                (name.strip(),),
                f"env file of server '{server.name}' holds a plaintext secret in {name.strip()} ({kind})",
                server,
                detail=f"envFile:{name.strip()}",
                line=number,
            )
            yield finding


def _server_secrets(server: ServerEntry, ctx: Context) -> Iterator[Finding]:
    for name, value in server.env.items():
        kind = ctx.scanner.kind(value, name)
        if kind:
            yield ctx.finding(
                "AUD020",
                server.file,
                (*server.key, "env", name),
                f"server '{server.name}' has a plaintext secret in env {name} ({kind})",
                server,
                detail=f"env:{name}",
            )
        elif is_secret_name(name) and references(value):
            yield ctx.finding(
                "AUD021",
                server.file,
                (*server.key, "env", name),
                f"server '{server.name}' receives {name} from your environment",
                server,
                detail=f"env:{name}",
            )
    for index, flag, value in arg_values(server.args):
        kind = ctx.scanner.kind(value, (flag or "").lstrip("-").replace("-", "_") or None)
        if kind:
            where = f"argument {index}" + (f" ({flag})" if flag else "")
            yield ctx.finding(
                "AUD020",
                server.file,
                server.arg_key(index),
                f"server '{server.name}' has a plaintext secret in {where} ({kind}); "
                "arguments are visible to every user in the process list",
                server,
                detail=f"arg:{index}",
            )
    header_key = "headers" if "headers" in server.raw else "http_headers"
    for name, value in server.headers.items():
        kind = ctx.scanner.kind(value, name)
        if kind:
            yield ctx.finding(
                "AUD020",
                server.file,
                (*server.key, header_key, name),
                f"server '{server.name}' has a plaintext secret in header {name} ({kind})",
                server,
                detail=f"header:{name}",
            )
    if server.url:
        kind = ctx.scanner.kind(server.url, None)
        if kind:
            url_key = next((k for k in ("url", "serverUrl", "httpUrl") if k in server.raw), "url")
            yield ctx.finding(
                "AUD020",
                server.file,
                (*server.key, url_key),
                f"server '{server.name}' has a secret in its URL ({kind})",
                server,
                detail="url",
            )
    forwarded = server.raw.get("env_vars")
    if isinstance(forwarded, list):
        for i, name in enumerate(forwarded):
            if isinstance(name, str) and is_secret_name(name):
                yield ctx.finding(
                    "AUD021",
                    server.file,
                    (*server.key, "env_vars", i),
                    f"server '{server.name}' receives {name} from your environment",
                    server,
                    detail=f"env_vars:{name}",
                )
    yield from _env_file(server, ctx)


def _settings_env(config: ConfigFile, ctx: Context) -> Iterator[Finding]:
    env = config.data.get("env") if isinstance(config.data, dict) else None
    if config.client != "claude-code" or not isinstance(env, dict):
        return
    for name, value in env.items():
        if isinstance(value, str) and (kind := ctx.scanner.kind(value, name)):
            yield ctx.finding(
                "AUD020",
                config,
                ("env", name),
                f"Claude Code settings hold a plaintext secret in env {name} ({kind})",
                detail=f"env:{name}",
            )


_INPUT = re.compile(r"\$\{input:([^}]+)\}")


def _vscode_inputs(server: ServerEntry, ctx: Context) -> Iterator[Finding]:
    """AUD022: ${input:id} feeding a secret-named variable from a promptString without password: true."""
    inputs = server.file.data.get("inputs") if isinstance(server.file.data, dict) else None
    if server.client != "vscode" or not isinstance(inputs, list):
        return
    by_id = {i.get("id"): (n, i) for n, i in enumerate(inputs) if isinstance(i, dict)}
    for name, value in {**server.env, **server.headers}.items():
        for input_id in _INPUT.findall(value):
            index, spec = by_id.get(input_id, (None, None))
            if (
                spec
                and is_secret_name(name)
                and spec.get("type", "promptString") == "promptString"
                and spec.get("password") is not True
            ):
                yield ctx.finding(
                    "AUD022",
                    server.file,
                    ("inputs", index),
                    f"input '{input_id}' feeds {name} of server '{server.name}' but is not a password prompt",
                    server,
                    detail=f"input:{input_id}",
                )


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for server in inventory.servers:
        yield from _server_secrets(server, ctx)
        yield from _vscode_inputs(server, ctx)
    for config in inventory.files:
        yield from _settings_env(config, ctx)
