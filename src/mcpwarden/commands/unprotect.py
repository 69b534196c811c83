"""`mcpwarden unprotect [--client NAME...] [--dry-run]`: undo `protect`. A file unchanged since
protect gets its backup back byte for byte; a file edited since gets only protect's edits reversed.

Exit codes: 0 restored (or nothing to restore); 1 some entries could not be restored (listed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from mcpwarden.auditor.protect import PROTECTABLE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--client", action="append", choices=PROTECTABLE, help="only these clients (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="say what would be restored; change nothing")
    parser.add_argument("--home", type=Path, help="the home directory protect was run on (default ~)")


def main(args: argparse.Namespace) -> int:
    from mcpwarden.auditor.protect import unprotect

    home = (args.home or Path(os.path.expanduser("~"))).absolute()
    result = unprotect(home, args.client, args.dry_run)
    for line in result.restored:
        print(("would restore " if args.dry_run else "restored ") + line)
    for line in result.problems:
        print(f"mcpwarden unprotect: {line}", file=sys.stderr)
    if not result.restored and not result.problems:
        print("mcpwarden unprotect: nothing to restore")
    return 1 if result.problems else 0
