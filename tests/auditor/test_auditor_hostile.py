"""Malformed and hostile files: each gets a clear finding, and the audit carries on quickly."""

from __future__ import annotations

import os
import time
from pathlib import Path

from auditor_homes import write, write_json
from conftest import pick

from mcpwarden.auditor.audit import run_audit
from mcpwarden.auditor.files import MAX_CONFIG_BYTES
from mcpwarden.auditor.target import Target


def build_hostile(home: Path) -> None:
    write(home / ".claude.json", '{"mcpServers": {"a": {"command": "uvx",}}}')  # trailing comma: not JSON
    write(home / ".cursor" / "mcp.json", "[" * 200_000)  # nested far too deep
    (home / ".codeium" / "windsurf").mkdir(parents=True)
    loop = home / ".codeium" / "windsurf" / "mcp_config.json"
    loop.symlink_to(loop)  # a symlink loop
    (home / ".gemini").mkdir()
    os.mkfifo(home / ".gemini" / "settings.json")  # would block a naive open()
    huge = home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    huge.parent.mkdir(parents=True)
    with open(huge, "wb") as handle:
        handle.truncate(MAX_CONFIG_BYTES + 1)  # sparse: large on paper, cheap to make
    write(home / ".codex" / "config.toml", "[mcp_servers.a\ncommand = 1\n")
    (home / ".config" / "Code" / "User").mkdir(parents=True)
    (home / ".config" / "Code" / "User" / "mcp.json").write_bytes(b"\xff\xfe{\x00\x00\xd8")  # broken UTF-16
    laughs = (
        "---\nname: lol\na: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
            for i in range(12)
        )
        + "---\nbody\n"
    )
    write(home / ".claude" / "skills" / "lol" / "SKILL.md", laughs)
    write(home / ".claude" / "skills" / "nofront" / "SKILL.md", "no frontmatter here\n")
    skills = home / ".claude" / "skills"
    (skills / "loopdir").symlink_to(skills)  # a directory loop
    deep = home / ".claude" / "skills" / "deep"
    for i in range(30):
        deep = deep / f"d{i}"
    write(deep / "SKILL.md", "---\nname: d29\n---\n")
    write_json(home / ".claude" / "settings.json", {"permissions": {"allow": ["Read"]}})


def test_hostile_home_gets_findings_and_finishes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_hostile(home)
    started = time.monotonic()
    report = run_audit(Target(home=home, audit_log=tmp_path / "none.jsonl"))
    elapsed = time.monotonic() - started
    assert elapsed < 20, elapsed
    found = report.findings
    assert "trailing comma" in pick(found, "AUD001", ".claude.json").message
    assert "nested more than" in pick(found, "AUD001", ".cursor/mcp.json").message
    assert "symlink loop" in pick(found, "AUD001", "mcp_config.json").message
    assert "not a regular file" in pick(found, "AUD001", ".gemini/settings.json").message
    assert "limit" in pick(found, "AUD001", "claude_desktop_config.json").message
    toml = pick(found, "AUD001", "config.toml")
    assert "TOML" in toml.message and toml.line == 1
    pick(found, "AUD001", "Code/User/mcp.json")
    assert "frontmatter" in pick(found, "AUD001", "nofront/SKILL.md").message
    # the billion-laughs skill parses (aliases are shared) and is checked without blowing up
    assert not [f for f in found if f.path.endswith("lol/SKILL.md") and f.check == "AUD001"]
    # every reporter copes with what was found
    import io
    import json

    from mcpwarden.auditor.reporters import json as json_reporter
    from mcpwarden.auditor.reporters import sarif, table

    assert json.loads(json_reporter.render(report))["summary"]["files"] == len(report.inventory.files)
    assert len(json.loads(sarif.render(report, root=home))["runs"][0]["results"]) == len(found)
    out = io.StringIO()
    table.render(report, out, color=False)
    assert "symlink loop" in out.getvalue()
    # the good settings file next to the bad ones is still read
    assert any(str(f.path).endswith(".claude/settings.json") for f in report.inventory.files if f.error is None)


def test_malformed_line_numbers(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(home / ".claude.json", '{\n  "mcpServers": {\n    "a": {"command": "x"\n  }\n')
    report = run_audit(Target(home=home, audit_log=tmp_path / "none.jsonl"))
    finding = pick(report.findings, "AUD001", ".claude.json")
    assert finding.line == 5  # the C parser reports where the document ran out


def test_jsonc_errors_name_the_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    write(
        home / ".config" / "Code" / "User" / "mcp.json", '{\n  // ok\n  "servers": {\n    "a": {"command": x}\n  }\n}\n'
    )
    report = run_audit(Target(home=home, audit_log=tmp_path / "none.jsonl"))
    finding = pick(report.findings, "AUD001", "Code/User/mcp.json")
    assert finding.line == 4 and "unexpected character" in finding.message


def test_bad_escape_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    # A Windows path written with single backslashes: json.loads raises on "\U", "\q"...
    home = tmp_path / "home"
    write(home / ".claude.json", '{"mcpServers": {"a": {"command": "C:\\Users\\x.exe"}}}')
    write(home / ".config" / "Code" / "User" / "mcp.json", '{\n  // c\n  "servers": {"a": {"command": "x\\q"}}\n}\n')
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {"ok": {"command": "uvx", "args": ["a==1"]}}})
    report = run_audit(Target(home=home, audit_log=tmp_path / "none.jsonl"))
    assert "invalid escape" in pick(report.findings, "AUD001", ".claude.json").message
    finding = pick(report.findings, "AUD001", "Code/User/mcp.json")
    assert "invalid escape" in finding.message and finding.line == 3
    assert [s.name for s in report.inventory.servers] == ["ok"]  # the good file is still read


def test_bad_yaml_tool_list_error_holds_no_text_of_the_file(tmp_path: Path) -> None:
    from auditor_homes import FAKE_GITHUB

    tools = write(tmp_path / "tools.yaml", f"tools:\n  - name: x\n    description: ok\n    key: {FAKE_GITHUB}: [\n")
    report = run_audit(Target(home=tmp_path / "home", tool_lists=[tools], audit_log=tmp_path / "none.jsonl"))
    finding = pick(report.findings, "AUD001", "tools.yaml")
    assert finding.line == 4 and "not valid YAML" in finding.message
    assert FAKE_GITHUB[-12:] not in finding.message and "key:" not in finding.message
