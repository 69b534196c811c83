"""Untrusted sources: AUD040 plain-http remotes, AUD041 remotes without credentials, AUD042
servers run from temporary or world-writable places, AUD043 typosquats of well-known servers."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from mcpwarden.auditor.checks.args import basename, package_spec, split_npm, split_pypi
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory, ServerEntry

WELL_KNOWN = {
    "npm": [
        "@modelcontextprotocol/server-filesystem",
        "@modelcontextprotocol/server-github",
        "@modelcontextprotocol/server-memory",
        "@modelcontextprotocol/server-everything",
        "@modelcontextprotocol/server-puppeteer",
        "@modelcontextprotocol/server-brave-search",
        "@modelcontextprotocol/server-slack",
        "@modelcontextprotocol/server-postgres",
        "@modelcontextprotocol/server-sequential-thinking",
        "@modelcontextprotocol/server-gdrive",
        "@modelcontextprotocol/server-google-maps",
        "@modelcontextprotocol/server-redis",
        "@modelcontextprotocol/server-gitlab",
        "@modelcontextprotocol/inspector",
        "@playwright/mcp",
        "@upstash/context7-mcp",
        "@notionhq/notion-mcp-server",
        "@stripe/mcp",
        "@sentry/mcp-server",
        "firecrawl-mcp",
        "@supabase/mcp-server-supabase",
        "@browserbasehq/mcp",
        "exa-mcp-server",
        "@cloudflare/mcp-server-cloudflare",
        "mcp-server-kubernetes",
        "@azure/mcp",
        "@heroku/mcp-server",
        "@github/github-mcp-server",
        "mcp-remote",
        "chrome-devtools-mcp",
        "@wonderwhy-er/desktop-commander",
        "tavily-mcp",
        "@21st-dev/magic",
        "figma-developer-mcp",
    ],
    "pypi": [
        "mcp-server-fetch",
        "mcp-server-git",
        "mcp-server-time",
        "mcp-server-sqlite",
        "mcp-server-sentry",
        "mcp-server-qdrant",
        "awslabs.core-mcp-server",
        "mcp-proxy",
        "mcp",
        "fastmcp",
        "serena",
        "mcp-server-motherduck",
        "markitdown-mcp",
    ],
}
_LOOPBACK = ("localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0")
_AUTH_HEADER = re.compile(r"authorization|api[-_]?key|token|auth|secret|cookie", re.I)
_AUTH_KEYS = (
    "oauth",
    "auth",
    "bearer_token_env_var",
    "bearer_token",
    "env_http_headers",
    "authProviderType",
    "headersHelper",
    "oauth_resource",
)
_INTERPRETERS = {"node", "python", "python3", "bash", "sh", "zsh", "deno", "bun", "ruby", "perl", "pwsh", "powershell"}
_TEMP = re.compile(
    r"^(?:/tmp|/var/tmp|/dev/shm|/private/tmp|/private/var/folders|[A-Za-z]:\\(?:Windows\\)?Temp"
    r"|.*[\\/]AppData[\\/]Local[\\/]Temp|.*[\\/]Downloads)(?:[\\/]|$)",
    re.I,
)


def distance(a: str, b: str, cap: int = 3) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, stopping early past ``cap``."""
    if abs(len(a) - len(b)) > cap:
        return cap + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > cap:
            return cap + 1
        prev2, prev = prev, cur
    return prev[len(b)]


def typosquat_of(ecosystem: str, name: str) -> str | None:
    known = WELL_KNOWN.get(ecosystem, [])
    lowered = name.lower()
    if lowered in known:
        return None
    for real in known:
        if len(real) >= 6 and 0 < distance(lowered, real, cap=2) <= (1 if len(real) < 10 else 2):
            return real
        if real.startswith("@") and lowered == real.split("/", 1)[1]:
            return real
    return None


def _is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")


def _has_auth(server: ServerEntry) -> bool:
    if any(_AUTH_HEADER.search(name) for name in server.headers):
        return True
    if any(k in server.raw for k in _AUTH_KEYS):
        return True
    return bool(server.url and re.search(r"[?&](?:api[_-]?key|key|token|access[_-]?token)=", server.url, re.I))


def _script_path(server: ServerEntry) -> tuple[int, str] | None:
    """(-1 for the command itself or arg index, path) of the file that is run."""
    command = server.command or ""
    is_path = command.startswith(("/", "~", ".")) or re.match(r"^[A-Za-z]:\\", command)
    if is_path and basename(command) not in _INTERPRETERS:
        return -1, command
    if basename(server.command) in _INTERPRETERS:
        for i, arg in enumerate(server.args):
            if arg.startswith("-"):
                continue
            return i, arg
    return None


def _writable_by_others(path: Path) -> bool:
    for candidate in (path, path.parent):
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if st.st_mode & stat.S_IWOTH and not (stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX):
            return True
    return False


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    for server in inventory.servers:
        url_key = next((k for k in ("url", "serverUrl", "httpUrl") if k in server.raw), "url")
        if server.url and server.transport != "stdio":
            scheme = urlsplit(server.url).scheme.lower()
            if scheme in ("http", "ws") and not _is_loopback(server.url):
                yield ctx.finding(
                    "AUD040",
                    server.file,
                    (*server.key, url_key),
                    f"server '{server.name}' is reached over {scheme}:// ({urlsplit(server.url).hostname})",
                    server,
                    detail="url",
                )
            if not _is_loopback(server.url) and not _has_auth(server):
                yield ctx.finding(
                    "AUD041",
                    server.file,
                    (*server.key, url_key),
                    f"remote server '{server.name}' has no credentials configured (unless it signs in with OAuth)",
                    server,
                    detail="url",
                )
        script = _script_path(server)
        if script:
            index, path = script
            expanded = Path(path).expanduser()
            if _TEMP.match(path) or (expanded.is_absolute() and _writable_by_others(expanded)):
                key = (*server.key, "command") if index < 0 else server.arg_key(index)
                yield ctx.finding(
                    "AUD042",
                    server.file,
                    key,
                    f"server '{server.name}' runs {path}, in a place others can write",
                    server,
                    detail=path,
                )
        spec = package_spec(server)
        if spec:
            ecosystem, text, index = spec
            name = split_npm(text)[0] if ecosystem == "npm" else split_pypi(text)[0]
            real = typosquat_of(ecosystem, name)
            if real:
                yield ctx.finding(
                    "AUD043",
                    server.file,
                    server.arg_key(index),
                    f"server '{server.name}' runs {name}, which looks like the well-known {real}",
                    server,
                    detail=name,
                )
