"""The terminal report: per client, each server (does it load, is it guarded) with its own
findings under it, then the client's file-level findings, then a summary and the fixes."""

from __future__ import annotations

from collections import defaultdict
from typing import IO

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mcpwarden.auditor.audit import Report
from mcpwarden.auditor.checks.catalog import info
from mcpwarden.auditor.model import Finding, ServerEntry

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _findings_table(findings: list[Finding], indent: int) -> Table:
    table = Table(show_header=False, box=None, padding=(0, 1), expand=False)
    table.add_column(width=indent, no_wrap=True)
    for column in ("severity", "id", "finding", "where"):
        table.add_column(column, overflow="fold")
    for finding in findings:
        where = f"{finding.path}:{finding.line}" if finding.line else finding.path
        severity = Text(finding.severity.upper(), style=STYLE[finding.severity])
        message = Text(finding.message)
        if finding.suppressed:
            severity = Text(f"{finding.severity} (baseline)", style="dim")
            message.stylize("dim")
        table.add_row("", severity, finding.check, message, Text(where, style="dim"))
    return table


def _server_line(server: ServerEntry, display: str) -> str:
    if server.wrapped:
        state = "[green]guarded[/green]"
    elif server.loads:
        state = "[bold]loads[/bold]"
    else:
        state = "[dim]does not load[/dim]"
    # Names, reasons and paths come from the config files being audited: never read them as markup.
    name, where, why = escape(server.name), escape(f"({server.scope}, {server.transport})"), escape(server.why)
    return f"  [bold]{name}[/bold] {where} {state}: {why}  [dim]{escape(display)}[/dim]"


def _introspection(report: Report, console: Console) -> None:
    results = report.introspection or []
    ok = sum(1 for r in results if r.ok)
    console.print(f"introspected {len(results)} servers in the sandbox ({ok} listed their tools)")
    for r in results:
        where = f"{r.server.client}:{r.server.name}"
        if r.ok:
            cache = report.inventory.display(r.cache) if r.cache else "not cached"
            line = Text(f"  {where}: {len(r.tools)} tools, {r.seconds:.1f} s  ")
            line.append(cache, style="dim")
            console.print(line)
        else:
            console.print(Text(f"  {where}: {r.status}: {r.reason}"))


def render(report: Report, out: IO[str], color: bool | None = None, show_fixes: bool = True) -> None:
    console = Console(file=out, force_terminal=color, no_color=color is False, width=140, highlight=False)
    inv = report.inventory
    by_server: dict[tuple[str, str], list[Finding]] = defaultdict(list)
    by_client: dict[str, list[Finding]] = defaultdict(list)
    for finding in report.findings:
        by_client[finding.client].append(finding)
        if finding.server is not None:
            by_server[(finding.client, finding.server)].append(finding)
    clients = sorted({f.client for f in inv.files} | {s.client for s in inv.servers} | set(by_client))
    for client in clients:
        servers = [s for s in inv.servers if s.client == client]
        names = {s.name for s in servers}
        console.rule(f"[bold]{client}[/bold]  ({len(servers)} servers, {len(by_client.get(client, []))} findings)")
        shown: set[str] = set()
        for server in servers:
            console.print(_server_line(server, inv.display(server.file.path)))
            if server.name in shown:
                continue
            shown.add(server.name)
            mine = by_server.get((client, server.name), [])
            if mine:
                console.print(_findings_table(mine, 2))
        rest = [f for f in by_client.get(client, []) if f.server is None or f.server not in names]
        if rest:
            console.print("  [bold]files and settings[/bold]")
            console.print(_findings_table(rest, 2))
    console.rule("[bold]summary[/bold]")
    counts = report.counts()
    suppressed = len(report.findings) - len(report.active())
    loading = sum(1 for s in inv.servers if s.loads)
    unguarded = sum(1 for s in inv.servers if s.loads and not s.wrapped and s.client != "mcpwarden")
    parts = [f"{len(inv.files)} files", f"{len(inv.servers)} servers ({loading} load, {unguarded} unguarded)"]
    parts += [f"{n} {sev}" for sev, n in counts.items() if n] or ["no findings"]
    if suppressed:
        parts.append(f"{suppressed} suppressed by the baseline")
    console.print(", ".join(parts))
    if report.introspection is not None:
        _introspection(report, console)
    for note in inv.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if show_fixes and report.active():
        console.print("\n[bold]How to fix[/bold]")
        for check in sorted({f.check for f in report.active()}):
            console.print(f"  {check} {info(check).title}: {info(check).fix}")
