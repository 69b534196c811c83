"""`mcpwarden scan [PATH...|-]`: find secrets, PII and honeytokens in files or stdin.

Exit codes: 0 nothing found, 1 findings (not in the baseline), 2 some inputs could not be
read (and nothing was found) or the report or baseline file cannot be written, 10 a rule
file, baseline or key is invalid. Output never holds a secret: rule, place, tier and a keyed fingerprint only.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mcpwarden.errors import UsageError

DEFAULT_KEY_FILE = "~/.config/mcpwarden/detect.key"
DEFAULT_HONEYTOKENS = "~/.config/mcpwarden/honeytokens.json"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or directories; '-' is stdin")
    parser.add_argument("--format", choices=("table", "json", "sarif"), default="table", help="output format")
    parser.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    parser.add_argument("--baseline", metavar="FILE", help="ignore findings listed in this baseline")
    parser.add_argument(
        "--write-baseline", metavar="FILE", help="write every current finding to FILE as the accepted baseline; exit 0"
    )
    parser.add_argument(
        "--rules", action="append", default=[], metavar="FILE", help="extra rule file (mcpwarden or gitleaks TOML)"
    )
    parser.add_argument("--no-builtin", action="store_true", help="do not load the built-in rules")
    parser.add_argument("--no-pii", action="store_true", help="do not report personal data (e-mail, phone, ...)")
    parser.add_argument("--no-generic", action="store_true", help="do not report generic keyword+entropy findings")
    parser.add_argument("--no-decode", action="store_true", help="do not decode base64/hex/percent/JSON escapes")
    parser.add_argument("--binary", action="store_true", help="also scan files that look binary")
    parser.add_argument(
        "--honeytokens", metavar="STORE", default=DEFAULT_HONEYTOKENS, help="honeytoken store (default: %(default)s)"
    )
    parser.add_argument(
        "--key-file",
        metavar="FILE",
        default=None,
        help=f"fingerprint key for baselines ($MCPWARDEN_DETECT_KEY wins; default with a baseline: {DEFAULT_KEY_FILE})",
    )


def main(args: argparse.Namespace) -> int:
    from mcpwarden.detect import Engine
    from mcpwarden.detect.baseline import load_baseline, load_key, write_baseline
    from mcpwarden.detect.sources import scan_paths

    uses_baseline = bool(args.baseline or args.write_baseline)
    key_file = args.key_file or (DEFAULT_KEY_FILE if uses_baseline else None)
    key = load_key(key_file, create=bool(args.write_baseline))
    engine = Engine.load(
        extra=args.rules,
        builtin=not args.no_builtin,
        honeytoken_store=args.honeytokens,
        key=key,
        pii=not args.no_pii,
        decode=not args.no_decode,
    )
    result = scan_paths(engine, args.paths, include_binary=args.binary)
    located, problems = result.located, result.problems
    if result.skipped_binary:
        print(
            f"mcpwarden scan: skipped {len(result.skipped_binary)} binary file(s); --binary scans them too",
            file=sys.stderr,
        )
    if args.no_generic:
        located = [item for item in located if item.finding.tier != "generic"]
    for problem in problems:
        print(f"mcpwarden scan: {problem.source}: {problem.message}", file=sys.stderr)
    if args.write_baseline:
        try:
            count = write_baseline(
                args.write_baseline, engine.fingerprint.key_id, ((i.finding, i.source) for i in located)
            )
        except OSError as exc:
            raise UsageError(f"cannot write the baseline {args.write_baseline}: {exc.strerror}") from None
        print(f"mcpwarden scan: wrote {count} accepted finding(s) to {args.write_baseline}", file=sys.stderr)
        return 0
    suppressed = 0
    if args.baseline:
        baseline = load_baseline(args.baseline)
        baseline.check_key(engine.fingerprint, args.baseline)
        kept = [item for item in located if item.finding not in baseline]
        suppressed = len(located) - len(kept)
        located = kept
    report = _render(args.format, located, engine, suppressed)
    if args.output:
        try:
            with open(args.output, "w", encoding="utf-8") as fh:
                fh.write(report)
        except OSError as exc:
            raise UsageError(f"cannot write the report to {args.output}: {exc.strerror}") from None
    else:
        sys.stdout.write(report)
    if located:
        return 1
    return 2 if problems else 0


def _render(fmt: str, located: list[Any], engine: Any, suppressed: int) -> str:
    if fmt == "json":
        return json.dumps(_json_document(located, suppressed), indent=2) + "\n"
    if fmt == "sarif":
        from mcpwarden.detect.sarif import document

        return json.dumps(document(located, {r.id: r for r in engine.rules}), indent=2) + "\n"
    return _table(located, suppressed)


def _json_document(located: list[Any], suppressed: int) -> dict[str, Any]:
    findings = []
    for item in located:
        record = item.finding.to_dict()
        record.pop("start", None)
        record.pop("end", None)
        findings.append(
            {
                "file": item.source,
                "line": item.line,
                "column": item.column,
                "end_line": item.end_line,
                "end_column": item.end_column,
                **record,
            }
        )
    by_tier: dict[str, int] = {}
    for f in findings:
        by_tier[f["tier"]] = by_tier.get(f["tier"], 0) + 1
    return {
        "version": 1,
        "findings": findings,
        "summary": {"total": len(findings), "by_tier": by_tier, "suppressed_by_baseline": suppressed},
    }


def _table(located: list[Any], suppressed: int) -> str:
    import io

    from rich.console import Console
    from rich.table import Table

    buffer = io.StringIO()
    console = Console(file=buffer, width=160, color_system=None if not sys.stdout.isatty() else "auto")
    if not located:
        note = f" ({suppressed} accepted by the baseline)" if suppressed else ""
        console.print(f"No secrets, PII or honeytokens found{note}.")
        return buffer.getvalue()
    table = Table(title=f"{len(located)} finding(s)", show_lines=False)
    for column in ("location", "rule", "tier", "severity", "fingerprint"):
        table.add_column(column, overflow="fold")
    for item in located:
        f = item.finding
        rule = f.rule_id + (f" ({f.encoding})" if f.encoding else "")
        table.add_row(item.location, rule, f.tier, f.severity, f.fingerprint[:12])
    console.print(table)
    if suppressed:
        console.print(f"{suppressed} more accepted by the baseline.")
    return buffer.getvalue()
