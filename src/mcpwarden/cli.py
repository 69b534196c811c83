"""The `mcpwarden` command. Thin: parses arguments, imports the command's module only when it
runs, and maps each WardenError subclass to an exit code in one table."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mcpwarden import __version__
from mcpwarden.errors import (
    AuditError,
    ChainBroken,
    DetectError,
    PolicyError,
    ProtectionUnavailable,
    SandboxError,
    SecretSourceError,
    UpstreamError,
    WardenError,
)

# name -> (module under mcpwarden.commands, one-line summary). Order is the help order.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "run an MCP server behind the gateway (stdio)"),
    "policy": ("policy", "check a policy file"),
    "log": ("log", "verify and read the audit log"),
    "scan": ("scan", "scan files or stdin for secrets, PII and honeytokens"),
    "honeytoken": ("honeytoken", "mint and list honeytokens"),
    "doctor": ("doctor", "show which sandbox protections work on this machine"),
    "audit": ("audit", "audit the MCP client configs and skills on this machine"),
    "protect": ("protect", "wrap every client's MCP servers in mcpwarden"),
    "unprotect": ("unprotect", "restore client configs changed by protect"),
}

# Most specific first: the first matching class decides the exit code.
EXIT_CODES: list[tuple[type[WardenError], int]] = [
    (ChainBroken, 3),
    (AuditError, 4),
    (PolicyError, 5),
    (ProtectionUnavailable, 6),
    (SandboxError, 7),
    (SecretSourceError, 8),
    (UpstreamError, 9),
    (DetectError, 10),
    (WardenError, 2),
]


def exit_code_for(exc: WardenError) -> int:
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 2


def _build_parser(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, str | None]:
    parser = argparse.ArgumentParser(prog="mcpwarden", description="Security gateway and auditor for MCP.")
    parser.add_argument("--version", action="version", version=f"mcpwarden {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, summary) in COMMANDS.items():
        cmd = sub.add_parser(name, help=summary, description=summary)
        if name == chosen:
            importlib.import_module(f"mcpwarden.commands.{module}").configure(cmd)
    return parser, chosen if chosen in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, chosen = _build_parser(argv)
    args = parser.parse_args(argv)
    if chosen is None:
        parser.print_help(sys.stderr)
        return 2
    module = importlib.import_module(f"mcpwarden.commands.{COMMANDS[chosen][0]}")
    try:
        return int(module.main(args) or 0)
    except WardenError as exc:
        # One line per problem (a policy error lists each), every one marked as ours.
        print("\n".join(f"mcpwarden: {line}" for line in str(exc).splitlines() or [""]), file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        return 130
