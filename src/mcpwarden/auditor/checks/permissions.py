"""AUD090: config and token files other users can read (when they hold secrets) or write."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.model import ConfigFile, Finding, Inventory

TOKEN_FILES = (
    (".claude", ".credentials.json"),
    (".codex", "auth.json"),
    (".gemini", "oauth_creds.json"),
    (".gemini", "mcp-oauth-tokens.json"),
    (".config", "mcpwarden", "secrets.yaml"),
)


def _mode(path: Path) -> int | None:
    try:
        return os.stat(path).st_mode
    except OSError:
        return None


def check(inventory: Inventory, ctx: Context, secret_files: set[str] | None = None) -> Iterator[Finding]:
    if os.name != "posix":
        return
    holds_secrets = secret_files if secret_files is not None else _files_with_secrets(inventory, ctx)
    configs = [c for c in inventory.files if c.error is None]
    configs += [
        ConfigFile(client="token-file", scope="user", path=ctx.target.home.joinpath(*parts), kind="text")
        for parts in TOKEN_FILES
    ]
    for config in configs:
        mode = _mode(config.path)
        if mode is None or not stat.S_ISREG(mode):
            continue
        shown = f"{stat.S_IMODE(mode):04o}"
        if mode & (stat.S_IWGRP | stat.S_IWOTH):
            yield ctx.finding(
                "AUD090",
                config,
                (),
                f"{config.path.name} is writable by other users (mode {shown}); "
                "anyone who can write it chooses what runs",
                detail="write",
            )
        elif mode & (stat.S_IRGRP | stat.S_IROTH) and (
            config.client == "token-file" or inventory.display(config.path) in holds_secrets
        ):
            what = "a token file" if config.client == "token-file" else "it holds plaintext secrets"
            yield ctx.finding(
                "AUD090",
                config,
                (),
                f"{config.path.name} is readable by other users (mode {shown}) and {what}",
                detail="read",
            )


def _files_with_secrets(inventory: Inventory, ctx: Context) -> set[str]:
    from mcpwarden.auditor.checks import secrets

    return {f.path for f in secrets.check(inventory, ctx) if f.check == "AUD020"}
