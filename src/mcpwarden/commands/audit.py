"""`mcpwarden audit`: read every MCP client config and skill on this machine (or under --home),
report what is risky. Sends nothing anywhere and starts no server, unless --introspect is
given: then each stdio server that loads is started inside mcpwarden's sandbox to list its tools.

Exit codes: 0 no unsuppressed finding at or above --fail-on; 1 there is one; 2 usage error,
unreadable baseline, or a report or baseline file that cannot be written.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mcpwarden.auditor.clients import CLIENT_MODULES
from mcpwarden.errors import UsageError

FAIL_ON = ("critical", "high", "medium", "low", "info", "never")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="config files or project directories to audit in addition to the usual places",
    )
    parser.add_argument(
        "--home",
        type=Path,
        help="audit this directory as the home directory "
        "(e.g. a copy from another machine); then the current directory and /etc are not read",
    )
    parser.add_argument("--project", action="append", type=Path, default=[], help="a project directory (repeatable)")
    parser.add_argument("--system-root", type=Path, help="where managed files live (default / without --home)")
    parser.add_argument("--client", action="append", choices=sorted(CLIENT_MODULES), help="only these clients")
    parser.add_argument("--policy", action="append", type=Path, default=[], help="an mcpwarden policy to lint")
    parser.add_argument(
        "--tools-file",
        action="append",
        type=Path,
        default=[],
        help="a pinned or cached tool list to check for poisoned descriptions",
    )
    parser.add_argument("--audit-log", type=Path, help="mcpwarden audit log for the unused-server check")
    parser.add_argument("--format", choices=("table", "json", "sarif"), default="table")
    parser.add_argument("--output", "-o", type=Path, help="write the report here instead of stdout")
    parser.add_argument("--baseline", type=Path, help="findings listed here are shown as suppressed")
    parser.add_argument("--write-baseline", type=Path, metavar="FILE", help="write every current finding to FILE")
    parser.add_argument(
        "--fail-on",
        choices=FAIL_ON,
        default="high",
        help="exit 1 if an unsuppressed finding has this severity or higher (default high)",
    )
    parser.add_argument("--no-color", action="store_true")
    parser.add_argument(
        "--introspect",
        action="store_true",
        help="start each stdio server that loads inside mcpwarden's sandbox (no network but its package "
        "registry, read-only paths) to list its tools, cache them and check their descriptions",
    )
    parser.add_argument(
        "--introspect-server",
        action="append",
        default=[],
        metavar="NAME",
        help="with --introspect: only start servers of this name (repeatable)",
    )
    parser.add_argument(
        "--introspect-timeout",
        type=_positive_seconds,
        metavar="SECONDS",
        help="with --introspect: give up on a server after this long (default 30)",
    )


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give between 0 and 3600 seconds")
    return value


def build_target(args: argparse.Namespace):  # -> Target
    from mcpwarden.auditor.target import Target

    explicit_home = args.home is not None
    home = (args.home or Path(os.path.expanduser("~"))).absolute()
    system_root = args.system_root or (None if explicit_home else Path("/"))
    target = Target(
        home=home,
        system_root=system_root,
        policies=list(args.policy),
        tool_lists=list(args.tools_file),
        audit_log=args.audit_log,
    )
    if not explicit_home:
        target.add_project(Path.cwd())
    for project in args.project:
        target.add_project(project.absolute())
    for path in args.paths:
        if path.is_dir():
            target.add_project(path.absolute())
        else:
            target.files.append(path.absolute())
    return target


def main(args: argparse.Namespace) -> int:
    from mcpwarden.auditor.audit import run_audit
    from mcpwarden.auditor.baseline import write_baseline
    from mcpwarden.auditor.model import SEVERITY_ORDER

    introspect = None
    needing = {"--introspect-server": args.introspect_server, "--introspect-timeout": args.introspect_timeout}
    for flag, given in needing.items():
        if given and not args.introspect:
            print(f"mcpwarden audit: {flag} needs --introspect", file=sys.stderr)
            return 2
    if args.introspect:
        from mcpwarden.auditor.introspect import IntrospectOptions

        timeout = {} if args.introspect_timeout is None else {"timeout": args.introspect_timeout}
        introspect = IntrospectOptions(servers=tuple(args.introspect_server), **timeout)
    for named in (*args.paths, *args.policy, *args.tools_file, *args.project):
        if not os.path.lexists(named):  # a mistyped path must not pass as a clean audit
            raise UsageError(f"{named}: no such file or directory")
    report = run_audit(build_target(args), args.client, args.baseline, introspect)
    if args.write_baseline:
        try:
            count = write_baseline(args.write_baseline, report.findings)
        except OSError as exc:
            raise UsageError(f"cannot write the baseline {args.write_baseline}: {exc.strerror}") from None
        print(f"mcpwarden audit: wrote {count} findings to baseline {args.write_baseline}", file=sys.stderr)
    try:
        out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    except OSError as exc:
        raise UsageError(f"cannot write the report to {args.output}: {exc.strerror}") from None
    try:
        if args.format == "json":
            from mcpwarden.auditor.reporters import json as json_reporter

            out.write(json_reporter.render(report))
        elif args.format == "sarif":
            from mcpwarden.auditor.reporters import sarif

            out.write(sarif.render(report))
        else:
            from mcpwarden.auditor.reporters import table

            table.render(report, out, color=False if (args.no_color or args.output) else None)
    finally:
        if args.output:
            out.close()
    if args.fail_on == "never":
        return 0
    threshold = SEVERITY_ORDER[args.fail_on]
    return 1 if any(SEVERITY_ORDER[f.severity] >= threshold for f in report.active()) else 0
