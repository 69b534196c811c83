"""`mcpwarden policy check FILE`: validate a policy file and say what it means."""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND", required=True)
    check = sub.add_parser("check", help="validate a policy file; exit 0 if valid, 5 if not")
    check.add_argument("file", help="the policy file (YAML)")


def main(args: argparse.Namespace) -> int:
    from mcpwarden.policy.loader import load_policy

    policy = load_policy(args.file)
    servers = ", ".join(policy.servers) or "none (defaults apply to every server)"
    print(f"{args.file}: valid policy (mode {policy.mode}; servers: {servers})")
    if policy.mode == "monitor":
        print(f"{args.file}: warning: monitor mode records what would be denied and denies nothing", file=sys.stderr)
    if not policy.audit.enabled:
        print(f"{args.file}: warning: the audit log is off", file=sys.stderr)
    return 0
