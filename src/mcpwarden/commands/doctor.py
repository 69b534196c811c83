"""`mcpwarden doctor`: which sandbox mechanisms work on this machine, and with
``--server NAME --policy FILE`` which protections that server would get (nothing is started)."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--policy", help="policy file (YAML); needed with --server")
    parser.add_argument("--server", help="show the protection report of this server entry")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def main(args: argparse.Namespace) -> int:
    from mcpwarden.errors import PolicyError
    from mcpwarden.policy.loader import default_policy, load_policy
    from mcpwarden.sandbox.plan import check_requirements, plan_report, required
    from mcpwarden.sandbox.probe import probe

    caps = probe()
    if not args.server:
        if args.json:
            print(json.dumps({"tier": caps.tier, "lines": caps.lines()}, indent=2))
        else:
            print("\n".join(caps.lines()))
        return 0
    policy = load_policy(args.policy) if args.policy else default_policy()
    if args.server not in policy.servers:
        raise PolicyError(f"{args.policy or 'default policy'}: no server named {args.server!r} under 'servers'")
    server = policy.servers[args.server]
    report = plan_report(server, caps)
    needs = required(server)
    if args.json:
        print(json.dumps({"server": args.server, "required": needs, "protections": report.as_dict()}, indent=2))
    else:
        print(f"server {args.server}: sandbox tier {report.tier}")
        print("\n".join("  " + line for line in report.lines()))
        if needs:
            print(f"  required: {', '.join(needs)}" + (" (degraded accepted)" if server.allow_degraded else ""))
    check_requirements(args.server, server, report)
    return 0
