"""`mcpwarden log verify|show`: check the audit log's chain, and read it."""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
from typing import Any

from mcpwarden.errors import AuditError, ChainBroken

_SHOWN = ("seq", "ts", "event", "server", "method", "tool", "verdict", "rule", "duration_ms")
_HIDDEN = frozenset({"v", "alg", "kid", "pid", "prev", "session", "principal", "arg_keys", "origin"})


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of records (1 or more)")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="log_command", metavar="SUBCOMMAND", required=True)

    verify = sub.add_parser(
        "verify",
        help="check that no record was edited, removed, inserted or reordered; exit 0 if intact, 3 if not",
        description="Verify audit logs. Each FILE may be a log, one of its rotated files, or a directory of logs.",
    )
    _add_source_arguments(verify)
    verify.add_argument("--key-env", help="environment variable holding the HMAC key (default: the policy's)")
    verify.add_argument(
        "--format", choices=["text", "json"], default="text", help="text (default) or one JSON line per log"
    )
    verify.add_argument(
        "--no-head",
        action="store_true",
        help="do not require the .head file (e.g. for a copied log); removal of records at the end goes unseen",
    )

    show = sub.add_parser("show", help="list records, filtered", description="List audit records, oldest first.")
    _add_source_arguments(show)
    show.add_argument("--server", help="only records of this server")
    show.add_argument("--tool", help="only records of this tool")
    show.add_argument(
        "--verdict", help="only this verdict: pass, deny, rewrite, would-deny, would-rewrite, error (egress: allow)"
    )
    show.add_argument(
        "--event", help="only this event (call, upstream, sandbox, egress, malformed, alert, skill, error, ...)"
    )
    show.add_argument("--since", help="only records since a time: 15m, 2h, 7d or 2026-11-21T08:00 (UTC)")
    show.add_argument("--limit", type=_positive, default=None, help="only the last N matching records")
    show.add_argument("--format", choices=["table", "json"], default="table", help="table (default) or JSON lines")


def _add_source_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="audit logs or directories (default: the policy's)")
    parser.add_argument("--policy", help="take the log path (and key variable) from this policy file")


def _sources(args: argparse.Namespace) -> tuple[list[str], str]:
    from mcpwarden.audit.files import logs_in
    from mcpwarden.audit.options import AuditOptions

    if args.policy:
        from mcpwarden.policy.loader import load_policy

        options = load_policy(args.policy).audit
    else:
        options = AuditOptions()
    key_env = getattr(args, "key_env", None) or options.hmac_key_env
    return logs_in(args.files or [options.path]), key_env


def main(args: argparse.Namespace) -> int:
    if args.log_command == "verify":
        return _verify(args)
    return _show(args)


def _verify(args: argparse.Namespace) -> int:
    from mcpwarden.audit.verify import verify_log

    logs, key_env = _sources(args)
    key = os.environb.get(key_env.encode()) or None
    broken: list[str] = []
    unreadable: list[str] = []
    for log in logs:
        # Every log is checked and reported, whatever an earlier one gave: a log that cannot
        # be read must not hide another one's broken chain (exit 3 wins over 4).
        try:
            report = verify_log(log, key=key, key_env=key_env, check_head=not args.no_head)
        except AuditError as exc:
            chain_broken = isinstance(exc, ChainBroken)
            text = f"{log}: CHAIN BROKEN: {exc}" if chain_broken else str(exc) if log in str(exc) else f"{log}: {exc}"
            (broken if chain_broken else unreadable).append(text)
            if args.format == "json":
                print(json.dumps({"log": log, "ok": False, "error": str(exc)}), flush=True)
            continue
        if args.format == "json":
            print(json.dumps({"ok": True, **dataclasses.asdict(report)}), flush=True)
        else:
            print(report.summary(), flush=True)
    if broken:
        raise ChainBroken("\n".join(broken + unreadable))
    if unreadable:
        raise AuditError("\n".join(unreadable))
    return 0


def _show(args: argparse.Namespace) -> int:
    import orjson

    from mcpwarden.audit.query import RecordFilter, parse_since, read_records

    logs, _key_env = _sources(args)
    chosen = RecordFilter(
        server=args.server,
        tool=args.tool,
        verdict=args.verdict,
        event=args.event,
        since=parse_since(args.since) if args.since else None,
    )
    limit = args.limit
    records: collections.deque[dict[str, Any]] = collections.deque(maxlen=limit)
    for log in logs:
        records.extend(r for r in read_records(log) if chosen.matches(r))
    if args.format == "json":
        out = sys.stdout.buffer
        for record in records:
            out.write(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))
        out.flush()
        return 0
    _print_table(records)
    return 0


def _print_table(records: collections.deque[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, header_style="bold")
    for column in (*_SHOWN, "detail"):
        table.add_column(column.replace("duration_ms", "ms"), no_wrap=column in ("ts", "seq"), overflow="fold")
    for record in records:
        # Values are shown literally: a tool name is chosen by the client, so it must neither
        # be read as Rich markup nor reach the terminal with control characters in it.
        cells = [Text(_literal(record.get(name))) for name in _SHOWN]
        detail = " ".join(
            f"{key}={value}"
            for key, value in record.items()
            if key not in _HIDDEN and key not in _SHOWN and not key.endswith("_sha256")
        )
        table.add_row(
            *cells, Text(_literal(detail)[:120]), style="red" if record.get("verdict") in ("deny", "error") else None
        )
    console = Console(soft_wrap=False)
    console.print(table)
    console.print(f"{len(records)} record(s)", style="dim")


def _literal(value: Any) -> str:
    """``value`` as text with every character that is not printable (control characters,
    terminal escapes, bidirectional overrides) written as an escape."""
    text = "" if value is None else str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}" for c in text)
