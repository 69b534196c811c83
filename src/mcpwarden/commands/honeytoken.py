"""`mcpwarden honeytoken new|add|list|remove`: canary values that must never leave.

    mcpwarden honeytoken new --kind aws [--name billing-canary]   mint one; prints the value
    mcpwarden honeytoken add --name NAME < value.txt              declare a canary you already planted
    mcpwarden honeytoken list [--show]                            names and kinds (values with --show)
    mcpwarden honeytoken remove NAME

The store (default ~/.config/mcpwarden/honeytokens.json, or detection.honeytoken_store of
--policy) is read by the gateway and by `mcpwarden scan`: any appearance of a honeytoken,
plain or encoded, is a critical finding that is always blocked.
"""

from __future__ import annotations

import argparse
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", metavar="FILE", help="honeytoken store (default: the policy's, else ~/.config/...)")
    parser.add_argument("--policy", metavar="FILE", help="take the store path from this policy's detection section")
    sub = parser.add_subparsers(dest="honeytoken_command", metavar="SUBCOMMAND", required=True)
    from mcpwarden.detect.honeytoken import MINTERS

    new = sub.add_parser("new", help="mint a honeytoken in a realistic format and record it")
    new.add_argument("--kind", required=True, choices=sorted(MINTERS), help="the credential format to imitate")
    new.add_argument("--name", help="a label (default: KIND-<random>)")
    add = sub.add_parser("add", help="record a canary value read from stdin")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", default="custom")
    listing = sub.add_parser("list", help="list recorded honeytokens")
    listing.add_argument("--show", action="store_true", help="also print the values")
    remove = sub.add_parser("remove", help="forget a honeytoken")
    remove.add_argument("name")


def _store_path(args: argparse.Namespace) -> str:
    if args.store:
        return str(args.store)
    if args.policy:
        from mcpwarden.policy.loader import load_policy

        return load_policy(args.policy).detection.honeytoken_store
    from mcpwarden.guards.dlp_options import DetectionOptions

    return DetectionOptions().honeytoken_store


def main(args: argparse.Namespace) -> int:
    from mcpwarden.detect.fingerprint import Fingerprinter
    from mcpwarden.detect.honeytoken import HoneyToken, add_to_store, load_store, mint, save_store
    from mcpwarden.errors import DetectError

    store = _store_path(args)
    command = args.honeytoken_command
    if command == "new":
        token = mint(args.kind, args.name)
        add_to_store(store, token)
        print(f"minted honeytoken {token.name!r} ({token.kind}) and recorded it in {store}", file=sys.stderr)
        print(token.value)
        return 0
    if command == "add":
        value = sys.stdin.readline().strip()
        add_to_store(store, HoneyToken(args.name, value, args.kind))
        print(f"recorded honeytoken {args.name!r} in {store}", file=sys.stderr)
        return 0
    tokens = load_store(store)
    if command == "list":
        label = Fingerprinter(b"mcpwarden-honeytoken-list")
        for token in tokens:
            shown = token.value if args.show else f"fp:{label(token.value.encode())[:12]}"
            print(f"{token.name}\t{token.kind}\t{token.created or '-'}\t{shown}")
        if not tokens:
            print(f"no honeytokens in {store}", file=sys.stderr)
        return 0
    kept = [t for t in tokens if t.name != args.name]
    if len(kept) == len(tokens):
        raise DetectError(f"{store}: no honeytoken named {args.name!r}")
    save_store(store, kept)
    print(f"removed honeytoken {args.name!r} from {store}", file=sys.stderr)
    return 0
