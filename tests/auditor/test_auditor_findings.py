"""Every check against a fake home with every client configured: each expected finding, one by one."""

from __future__ import annotations

from pathlib import Path

from auditor_homes import FAKE_GITHUB, FAKE_KEY, FAKE_SLACK
from conftest import none_of, pick

from mcpwarden.auditor.audit import Report


def servers(report: Report) -> dict[tuple[str, str], tuple[bool, str]]:
    return {(s.client, s.name): (s.loads, s.why) for s in report.inventory.servers}


def test_effective_claude_code(report: Report) -> None:
    loads = servers(report)
    assert loads[("claude-code", "filesystem")][0] is True
    assert loads[("claude-code", "local-db")][0] is True  # local scope from the projects map
    assert loads[("claude-code", "approved")] == (True, "approved in enabledMcpjsonServers")
    assert loads[("claude-code", "rejected")] == (False, "listed in disabledMcpjsonServers")
    assert loads[("claude-code", "pending")][0] is False
    assert loads[("claude-code", "remote")] == (False, "blocked by deniedMcpServers")
    assert loads[("claude-code", "plugin:helper:helper-srv")][0] is False


def test_effective_other_clients(report: Report) -> None:
    loads = servers(report)
    assert loads[("cursor", "off")] == (False, "disabled: true")
    assert loads[("codex", "disabled")] == (False, "enabled = false")
    assert loads[("gemini", "excluded-one")] == (False, "listed in mcp.excluded")
    assert loads[("vscode", "fetch")][0] is True
    assert loads[("vscode", "container-git")][0] is True
    assert loads[("windsurf", "docs")][0] is True
    assert loads[("claude-desktop", "slack")][0] is True


def test_broad_filesystem_roots(report: Report) -> None:
    f = pick(report.findings, "AUD010", ".claude.json", "filesystem")
    assert f.severity == "high" and f.line == 9 and f.key == "mcpServers.filesystem.args[2]"
    f = pick(report.findings, "AUD010", "claude_desktop_config.json", "home-files")
    assert "home directory" in f.message


def test_plaintext_secrets_named_never_shown(report: Report) -> None:
    f = pick(report.findings, "AUD020", ".claude.json", "github")
    assert "GITHUB_PERSONAL_ACCESS_TOKEN" in f.message and f.line == 19
    pick(report.findings, "AUD020", "claude_desktop_config.json", "slack", key="SLACK_BOT_TOKEN")
    none_of([f for f in report.findings if "SLACK_TEAM_ID" in f.key], "AUD020")
    pick(report.findings, "AUD020", "config.toml", "docs", key="DOCS_TOKEN")
    pick(report.findings, "AUD020", "mcp_config.json", "docs", key="serverUrl")
    env = pick(report.findings, "AUD020", ".env", "fetch")
    assert env.line == 2 and "SERVICE_API_KEY" in env.message
    pick(report.findings, "AUD021", "mcp.json", "fetch", key="OTHER_TOKEN")
    prompt = pick(report.findings, "AUD022", "mcp.json", "fetch")
    assert "db-pass" in prompt.message and prompt.key == "inputs[1]" and prompt.line == 5
    none_of([f for f in report.findings if f.key.endswith("API_KEY") and "input" in f.key], "AUD020")
    for finding in report.findings:
        for secret in (FAKE_GITHUB, FAKE_SLACK, FAKE_KEY):
            assert secret not in finding.message and secret not in finding.key


def test_unpinned_packages(report: Report) -> None:
    assert "without a version" in pick(report.findings, "AUD030", ".claude.json", "filesystem").message
    assert "'latest'" in pick(report.findings, "AUD030", "claude_desktop_config.json", "slack").message
    assert "digest" in pick(report.findings, "AUD030", "mcp.json", "browser").message
    pick(report.findings, "AUD030", ".claude.json", "local-db")
    pick(report.findings, "AUD030", "devcontainer.json", "container-git")
    none_of(report.findings, "AUD030", server="github")  # pinned @2025.4.8
    none_of(report.findings, "AUD030", server="fetch")  # pinned ==2025.1.1


def test_untrusted_sources(report: Report) -> None:
    assert pick(report.findings, "AUD040", ".claude.json", "remote").severity == "high"
    pick(report.findings, "AUD041", ".claude.json", "remote")
    none_of(report.findings, "AUD041", server="docs")  # api_key in the URL counts as a credential
    pick(report.findings, "AUD042", ".mcp.json", "approved")
    typo = pick(report.findings, "AUD043", ".mcp.json", "pending")
    assert "@modelcontextprotocol/server-memory" in typo.message
    none_of(report.findings, "AUD043", server="filesystem")


def test_fields_that_run_commands(report: Report) -> None:
    pick(report.findings, "AUD050", "settings.json", key="apiKeyHelper")
    assert "PostToolUse" in pick(report.findings, "AUD050", "settings.json", key="hooks").message
    bang = pick(report.findings, "AUD050", "pdf-tools/SKILL.md")
    assert bang.line == 8


def test_confirmations_off(report: Report) -> None:
    pick(report.findings, "AUD060", "~/.claude/settings.json", key="defaultMode")
    assert pick(report.findings, "AUD060", "~/.claude/settings.json", key="allow").severity == "high"
    pick(report.findings, "AUD060", "~/.claude/settings.json", key="skipDangerousModePermissionPrompt")
    assert pick(report.findings, "AUD060", "repo/.claude/settings.json", key="allow").severity == "low"  # mcp__github
    pick(report.findings, "AUD060", ".gemini/settings.json", key="trust")
    pick(report.findings, "AUD060", "config.toml", key="approval_policy")
    pick(report.findings, "AUD060", "config.toml", key="sandbox_mode")


def test_unguarded_servers(report: Report) -> None:
    pick(report.findings, "AUD070", ".claude.json", "filesystem")
    none_of(report.findings, "AUD070", server="rejected")  # does not load
    none_of(report.findings, "AUD070", server="off")
    none_of(report.findings, "AUD070", server="remote")  # denied by managed settings


def test_file_permissions(report: Report, home: dict[str, Path]) -> None:
    pick(report.findings, "AUD090", "claude_desktop_config.json")
    none_of(report.findings, "AUD090", ".claude.json")  # 0600
    none_of(report.findings, "AUD090", ".cursor/mcp.json")  # 0644 but no secret
    home["cursor"].chmod(0o666)
    from conftest import audit_home

    again = audit_home(home)
    assert "writable" in pick(again.findings, "AUD090", ".cursor/mcp.json").message


def test_skills(report: Report) -> None:
    pick(report.findings, "AUD100", "pdf-tools/SKILL.md")
    assert pick(report.findings, "AUD101", "pdf-tools/SKILL.md").line == 2
    reasons = {f.message for f in report.findings if f.check == "AUD102"}
    assert any("ignore instructions" in r for r in reasons) and any("hide from user" in r for r in reasons)
    assert pick(report.findings, "AUD103", "install.sh").line == 2
    assert not [f for f in report.findings if f.path.endswith("notes/SKILL.md")]


def test_policy_lint(report: Report) -> None:
    pick(report.findings, "AUD123", "main.yaml")
    pick(report.findings, "AUD124", "main.yaml")
    assert pick(report.findings, "AUD121", "main.yaml").line == 8
    none_of(report.findings, "AUD120", "main.yaml")  # valid policy


def test_paths_are_shown_with_tilde(report: Report) -> None:
    assert pick(report.findings, "AUD010", ".claude.json", "filesystem").path == "~/.claude.json"
