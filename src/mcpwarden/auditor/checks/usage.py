"""AUD080: servers nobody calls, by mcpwarden's audit log (wrapped servers) and Claude Code's
session transcripts (~/.claude/projects/*/*.jsonl). Read-only, bounded, tolerant of bad lines."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path

from mcpwarden.auditor.checks.context import Context
from mcpwarden.auditor.files import walk_files
from mcpwarden.auditor.model import Finding, Inventory, ServerEntry

MAX_LOG_BYTES = 64 * 1024 * 1024
MAX_TRANSCRIPT_BYTES = 128 * 1024 * 1024
MAX_TRANSCRIPTS = 5000
_TOOL_NAME = re.compile(r'"name"\s*:\s*"mcp__([A-Za-z0-9_.-]+?)__')


def normalise(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name).lower()


def log_files(path: Path) -> list[Path]:
    """The current log and its rotated files, newest first (pruned generations are skipped)."""
    from mcpwarden.audit.files import log_family

    return [Path(f.path) for f in reversed(log_family(str(path)))]


def servers_in_audit_log(path: Path) -> set[str] | None:
    """Names of servers with at least one tools/call in the log and its rotated files; None if
    there is no log at all."""
    if not path.is_file():
        return None
    used: set[str] = set()
    budget = MAX_LOG_BYTES
    for file in log_files(path):
        budget -= _read_log(file, used, budget)
        if budget <= 0:
            break
    return used


def _read_log(path: Path, used: set[str], budget: int) -> int:
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed below; the log may be large, read it in lines
    except OSError:
        return 0
    read = 0
    with handle:
        for raw in handle:
            read += len(raw)
            if read > budget:
                break
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("server"), str):
                continue
            if record.get("method") == "tools/call" or record.get("tool"):
                used.add(normalise(record["server"]))
    return read


def servers_in_transcripts(home: Path) -> set[str] | None:
    root = home / ".claude" / "projects"
    if not root.is_dir():
        return None
    used: set[str] = set()
    total = 0
    for count, path in enumerate(walk_files(root, _jsonl_names(root), max_depth=2)):
        if count >= MAX_TRANSCRIPTS or total > MAX_TRANSCRIPT_BYTES:
            break
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_TRANSCRIPT_BYTES - total)
        except OSError:
            continue
        total += len(data)
        used.update(normalise(m) for m in _TOOL_NAME.findall(data.decode("utf-8", "replace")))
    return used


def _jsonl_names(root: Path) -> set[str]:
    names: set[str] = set()
    for directory in root.iterdir() if root.is_dir() else []:
        try:
            names.update(p.name for p in directory.glob("*.jsonl"))
        except OSError:
            continue
        if len(names) > MAX_TRANSCRIPTS:
            break
    return names


def _used(server: ServerEntry, log: set[str] | None, transcripts: set[str] | None) -> bool | None:
    """True/False when there is evidence for this server, None when nothing can tell."""
    verdicts: list[bool] = []
    name = normalise(server.name.split(":")[-1])
    if server.wrapped and log is not None:
        verdicts.append(name in log)
    if server.client == "claude-code" and transcripts is not None:
        verdicts.append(name in transcripts)
    return any(verdicts) if verdicts else None


def check(inventory: Inventory, ctx: Context) -> Iterator[Finding]:
    from mcpwarden.audit.options import default_audit_path

    paths = [ctx.target.audit_log] if ctx.target.audit_log else [Path(default_audit_path())]
    for config in inventory.files:  # policies may keep their log elsewhere
        audit = config.data.get("audit") if config.client == "mcpwarden" and isinstance(config.data, dict) else None
        if isinstance(audit, dict) and isinstance(audit.get("path"), str):
            paths.append(Path(os.path.expandvars(os.path.expanduser(audit["path"]))))
    logs = [found for p in dict.fromkeys(paths) if (found := servers_in_audit_log(p)) is not None]
    log = set().union(*logs) if logs else None
    transcripts = servers_in_transcripts(ctx.target.home)
    for server in inventory.servers:
        if not server.loads or server.client == "mcpwarden":
            continue
        if _used(server, log, transcripts) is False:
            sources = " and ".join(
                s for s, v in (("the audit log", log), ("Claude Code transcripts", transcripts)) if v is not None
            )
            yield ctx.finding(
                "AUD080",
                server.file,
                server.key,
                f"server '{server.name}' has no recorded tool call in {sources}",
                server,
            )
