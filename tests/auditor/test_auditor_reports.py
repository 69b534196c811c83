"""Reports: SARIF validated against the SARIF 2.1.0 schema, the JSON document, the table, the
baseline (suppressed findings stay visible), exit codes, and --introspect refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from auditor_homes import FAKE_GITHUB, FAKE_KEY, FAKE_SLACK, build_clean_home, build_home

from mcpwarden.auditor.audit import Report
from mcpwarden.auditor.checks.catalog import CATALOG
from mcpwarden.auditor.reporters import json as json_reporter
from mcpwarden.auditor.reporters import sarif

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text())


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpwarden", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def home_args(paths: dict[str, Path]) -> list[str]:
    return [
        "--home",
        str(paths["home"]),
        "--system-root",
        str(paths["system"]),
        "--audit-log",
        str(paths["home"] / "none.jsonl"),
    ]


def test_sarif_is_valid_and_complete(report: Report, tmp_path: Path) -> None:
    document = sarif.document(report, root=tmp_path / "work" / "repo")
    jsonschema.Draft4Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(document)
    run = document["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert {r["id"] for r in rules} == set(CATALOG)
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["help"]["text"]
        assert float(rule["properties"]["security-severity"]) > 0
    assert len(run["results"]) == len(report.findings)
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        region = result["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1
        assert len(result["partialFingerprints"]["mcpwardenFinding/v1"]) == 32
    in_repo = [r for r in run["results"] if r["properties"]["displayPath"].endswith("repo/.mcp.json")]
    assert in_repo and all(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == ".mcp.json" for r in in_repo
    )
    at_home = next(r for r in run["results"] if r["properties"]["displayPath"] == "~/.claude.json")
    assert at_home["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].startswith("file:///")
    text = json.dumps(document)
    for secret in (FAKE_GITHUB, FAKE_SLACK, FAKE_KEY):
        assert secret not in text


def test_sarif_relative_uris_are_percent_encoded(home: dict[str, Path], report: Report) -> None:
    # a path with a space (macOS "Application Support") is not a URI until it is escaped
    run = sarif.document(report, root=home["home"])["runs"][0]
    desktop = [
        r["locations"][0]["physicalLocation"]["artifactLocation"]
        for r in run["results"]
        if "claude_desktop_config.json" in r["properties"]["displayPath"]
    ]
    assert desktop and all(
        a == {"uri": "Library/Application%20Support/Claude/claude_desktop_config.json", "uriBaseId": "%SRCROOT%"}
        for a in desktop
    )


def test_fingerprints_do_not_move_with_lines(home: dict[str, Path]) -> None:
    from conftest import audit_home

    first = {f.fingerprint for f in audit_home(home).findings}
    text = home["claude_json"].read_text()
    home["claude_json"].write_text("\n\n\n" + text)
    moved = audit_home(home).findings
    assert {f.fingerprint for f in moved} == first
    assert any(f.line and f.path == "~/.claude.json" and f.line > 3 for f in moved)


def test_json_document(report: Report) -> None:
    document = json.loads(json_reporter.render(report))
    assert document["schema"] == "mcpwarden.audit/1"
    summary = document["summary"]
    assert summary["findings"] == len(report.findings) and summary["suppressed"] == 0
    assert summary["by_severity"]["high"] == sum(1 for f in report.findings if f.severity == "high")
    assert summary["servers"] == len(document["servers"])
    github = next(s for s in document["servers"] if s["name"] == "github" and s["client"] == "claude-code")
    assert github == {
        **github,
        "transport": "stdio",
        "command": "npx",
        "loads": True,
        "wrapped": False,
        "path": "~/.claude.json",
        "line": 12,
    }
    remote = next(s for s in document["servers"] if s["name"] == "remote")
    assert remote["url"] == "http://mcp.example.com"
    finding = document["findings"][0]
    assert set(finding) == {
        "id",
        "name",
        "severity",
        "message",
        "client",
        "scope",
        "server",
        "path",
        "line",
        "key",
        "fingerprint",
        "suppressed",
        "fix",
    }
    text = json.dumps(document)
    for secret in (FAKE_GITHUB, FAKE_SLACK, FAKE_KEY):
        assert secret not in text


def test_cli_exit_codes_and_formats(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    done = cli("audit", *home_args(paths), "--format", "json")
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["summary"]["findings"] > 0
    assert cli("audit", *home_args(paths), "--fail-on", "never").returncode == 0
    clean = build_clean_home(tmp_path)
    quiet = cli("audit", "--home", str(clean), "--audit-log", str(clean / "none.jsonl"))
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    assert "no findings" in quiet.stdout
    empty = cli("audit", "--home", str(tmp_path / "nothing-here"), "--audit-log", str(clean / "none.jsonl"))
    assert empty.returncode == 0 and "no MCP client config, skill or policy found" in empty.stdout
    out = tmp_path / "report.sarif"
    assert cli("audit", *home_args(paths), "--format", "sarif", "-o", str(out)).returncode == 1
    jsonschema.validate(json.loads(out.read_text()), SCHEMA)



@pytest.mark.parametrize("flag", [None, "--policy", "--tools-file", "--project"])
def test_a_named_file_that_does_not_exist_is_an_error_not_a_clean_audit(tmp_path: Path, flag: str | None) -> None:
    """`audit ci/mcp.json` (or --policy, --tools-file, --project) with a mistyped path used to
    report "no findings" and exit 0, passing a CI gate without having read anything."""
    clean = build_clean_home(tmp_path)
    missing = tmp_path / "typo" / "mcp.json"
    done = cli("audit", "--home", str(clean), *([flag] if flag else []), str(missing))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"mcpwarden: {missing}: no such file or directory" in done.stderr and "Traceback" not in done.stderr

def test_table_groups_by_client_and_summarises(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    done = cli("audit", *home_args(paths), "--no-color")
    for client in (
        "claude-code",
        "claude-desktop",
        "cursor",
        "vscode",
        "windsurf",
        "gemini",
        "codex",
        "skills",
        "mcpwarden",
    ):
        assert f" {client} " in done.stdout, client
    assert "summary" in done.stdout and "unguarded" in done.stdout and "How to fix" in done.stdout
    for secret in (FAKE_GITHUB, FAKE_SLACK, FAKE_KEY):
        assert secret not in done.stdout + done.stderr


def test_baseline_suppresses_but_keeps_visible(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    baseline = tmp_path / "baseline.json"
    first = cli("audit", *home_args(paths), "--write-baseline", str(baseline), "--format", "json")
    assert first.returncode == 1
    total = json.loads(first.stdout)["summary"]["findings"]
    again = cli("audit", *home_args(paths), "--baseline", str(baseline), "--format", "json")
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["summary"]["findings"] == 0 and document["summary"]["suppressed"] == total
    assert len(document["findings"]) == total and all(f["suppressed"] for f in document["findings"])
    sarif_run = cli("audit", *home_args(paths), "--baseline", str(baseline), "--format", "sarif")
    results = json.loads(sarif_run.stdout)["runs"][0]["results"]
    assert len(results) == total and all(r["suppressions"][0]["status"] == "accepted" for r in results)
    table = cli("audit", *home_args(paths), "--baseline", str(baseline), "--no-color")
    assert "(baseline)" in table.stdout and "suppressed by the baseline" in table.stdout
    # a new problem is not covered by the old baseline
    paths["cursor"].write_text(
        paths["cursor"].read_text().replace('"off"', '"new-one"').replace('"disabled": true', '"x": 1')
    )
    newer = cli("audit", *home_args(paths), "--baseline", str(baseline), "--format", "json")
    assert newer.returncode == 0  # medium findings only, below the default --fail-on high
    fresh = [f for f in json.loads(newer.stdout)["findings"] if not f["suppressed"]]
    assert fresh and all(f["server"] == "new-one" for f in fresh)


def test_bad_baseline_is_an_error(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text('{"findings": 3}')
    done = cli("audit", *home_args(paths), "--baseline", str(bad))
    assert done.returncode == 2 and "not a baseline" in done.stderr
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    done = cli("audit", *home_args(paths), "--baseline", str(deep))
    assert done.returncode == 2 and "nested too deeply" in done.stderr and "Traceback" not in done.stderr


def test_unwritable_report_or_baseline_is_an_error_not_findings(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    missing = tmp_path / "no-such-dir"
    for flag in ("-o", "--write-baseline"):
        done = cli("audit", *home_args(paths), flag, str(missing / "out.json"))
        assert done.returncode == 2, (flag, done.stderr)
        assert "cannot write" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_explicit_files_from_other_machines(tmp_path: Path, fmt: str) -> None:
    copied = tmp_path / "from-windows" / "claude_desktop_config.json"
    copied.parent.mkdir()
    copied.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem@2025.7.1", "C:\\"]}
                }
            }
        )
    )
    done = cli("audit", "--home", str(tmp_path / "empty"), str(copied), "--format", fmt)
    assert done.returncode == 1
    if fmt == "json":
        ids = {f["id"] for f in json.loads(done.stdout)["findings"]}
        assert "AUD010" in ids


def test_table_shows_markup_in_server_names_as_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cursor").mkdir()
    config = {"mcpServers": {"[red]x[/red]": {"command": "/usr/bin/true", "args": []}}}
    (home / ".cursor" / "mcp.json").write_text(json.dumps(config))
    done = cli("audit", "--home", str(home), "--no-color", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    # The server's own line prints the name as written, not read as formatting.
    assert "  [red]x[/red] (user, stdio)" in done.stdout
