"""AUD010: filesystem-like servers given /, a home directory or a drive root."""

from __future__ import annotations

import re
from collections.abc import Iterator

from mcpwarden.auditor.checks.args import arg_values, basename, docker_mounts, package_spec
from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import Finding, Inventory, ServerEntry

_FS_HINT = re.compile(r"filesystem|(?:^|[-_/@])fs(?:$|[-_])|files?(?:$|[-_])|desktop-commander|file-?system", re.I)
_HOME_VARS = {
    "~",
    "$HOME",
    "${HOME}",
    "%USERPROFILE%",
    "%HOMEPATH%",
    "${env:HOME}",
    "${env:USERPROFILE}",
    "${userHome}",
    "$env:USERPROFILE",
}
_HOME_DIR = re.compile(r"^(?:/home/[^/\\]+|/Users/[^/\\]+|/root|/var/root|[A-Za-z]:[\\/]+Users[\\/]+[^/\\]+)$", re.I)
_TOP = re.compile(r"^(?:/|/home|/Users|/mnt|/media|/Volumes|[A-Za-z]:[\\/]?|[A-Za-z]:[\\/]+Users|\\\\|//)$", re.I)


def is_filesystem_like(server: ServerEntry) -> bool:
    spec = package_spec(server)
    names = [server.name, basename(server.command), spec[1] if spec else ""]
    return any(_FS_HINT.search(n or "") for n in names)


def broad_root(value: str, home: str) -> str | None:
    """Why ``value`` is too broad a root, or None."""
    text = value.strip().strip("'\"")
    if not text:
        return None
    trimmed = text.rstrip("/\\") or text[:1]
    if trimmed in _HOME_VARS or text in ("~/", "$HOME/", "${HOME}/"):
        return "the home directory"
    if home and trimmed == home.rstrip("/"):
        return "the home directory"
    if _HOME_DIR.match(trimmed):
        return "a home directory"
    if _TOP.match(text) or _TOP.match(trimmed):
        return "a drive or filesystem root"
    return None


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    home = str(ctx.target.home)
    for server in inventory.servers:
        candidates: list[tuple[int, str]] = list(docker_mounts(server))
        if is_filesystem_like(server):
            candidates += [(i, value) for i, _flag, value in arg_values(server.args)]
        cwd = server.raw.get("cwd")
        if isinstance(cwd, str) and is_filesystem_like(server) and broad_root(cwd, home):
            why = broad_root(cwd, home)
            yield ctx.finding(
                "AUD010",
                server.file,
                (*server.key, "cwd"),
                f"server '{server.name}' works in {why} ({cwd})",
                server,
                detail=f"cwd:{cwd}",
            )
        for index, value in candidates:
            why = broad_root(value, home)
            if why:
                yield ctx.finding(
                    "AUD010",
                    server.file,
                    server.arg_key(index),
                    f"server '{server.name}' may read and write {why} ({value})",
                    server,
                    detail=f"arg:{value}",
                )
