"""`mcpwarden protect [--client NAME...] [--dry-run]`: wrap every stdio MCP server of the
chosen clients in `mcpwarden run`, with a starting policy per client. Backs up each file;
`mcpwarden unprotect` undoes it. Running it twice changes nothing the second time.

Exit codes: 0 done (or nothing to do); 1 a server that should be wrapped could not be (listed);
2 error. Remote servers, plugins, dev containers and managed files are left alone by design.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mcpwarden.auditor.protect import PROTECTABLE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client", action="append", choices=PROTECTABLE, help="only these clients (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="show the diff and the policies; change nothing")
    parser.add_argument("--home", type=Path, help="the home directory whose configs to change (default ~)")
    parser.add_argument(
        "--project",
        action="append",
        type=Path,
        default=[],
        help="also rewrite this project's shared configs (.mcp.json, .cursor, .vscode); "
        "without it only your own configs change",
    )
    parser.add_argument(
        "--mcpwarden",
        dest="executable",
        help="path of the mcpwarden executable to write into configs (default: the one found on PATH, made absolute)",
    )


def main(args: argparse.Namespace) -> int:
    from mcpwarden.auditor.discovery import discover
    from mcpwarden.auditor.protect import apply_plan, diff, plan_protect
    from mcpwarden.auditor.target import Target
    from mcpwarden.auditor.wrapping import mcpwarden_executable

    home = (args.home or Path(os.path.expanduser("~"))).absolute()
    target = Target(home=home)
    projects = [p.absolute() for p in args.project]
    for project in projects:
        target.add_project(project)
    inventory = discover(target, [c for c in (args.client or PROTECTABLE)])
    executable = os.path.abspath(args.executable) if args.executable else mcpwarden_executable()
    plan = plan_protect(inventory, args.client, executable, projects)
    for line in plan.skipped:
        print(f"not wrapped: {line}", file=sys.stderr)
    for line in plan.failed:
        print(f"mcpwarden protect: NOT wrapped: {line}", file=sys.stderr)
    for line in plan.notes:
        print(f"note: {line}", file=sys.stderr)
    if plan.wrapped_already:
        print(f"already protected: {len(plan.wrapped_already)} server(s)", file=sys.stderr)
    if not plan.changes:
        print("mcpwarden protect: nothing to change")
        return 1 if plan.failed else 0
    if args.dry_run:
        sys.stdout.write(diff(plan, inventory.display))
        print(f"mcpwarden protect: dry run; {len(plan.files)} file(s) would change", file=sys.stderr)
        return 1 if plan.failed else 0  # the exit the real run would give
    for line in apply_plan(plan, home):
        print(line)
    print("mcpwarden protect: restart your MCP clients; undo with `mcpwarden unprotect`", file=sys.stderr)
    return 1 if plan.failed else 0
