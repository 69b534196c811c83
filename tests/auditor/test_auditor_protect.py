"""protect / unprotect on a fake home: byte-for-byte round trips, idempotence, dry runs that
change nothing and print no secret, files edited after protect, symlinks, CRLF and BOM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from auditor_homes import FAKE_GITHUB, FAKE_KEY, FAKE_SLACK, build_home, write, write_json

from mcpwarden.auditor.discovery import discover
from mcpwarden.auditor.protect import apply_plan, plan_protect, unprotect
from mcpwarden.auditor.target import Target
from mcpwarden.auditor.wrapping import gateway_args
from mcpwarden.policy.loader import load_policy

EXE = "/opt/mcpwarden/bin/mcpwarden"


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under root except mcpwarden's own state."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink() and ".config/mcpwarden" not in str(path):
            out[str(path.relative_to(root))] = path.read_bytes()
    return out


def protect(home: Path, clients: list[str] | None = None, projects: list[Path] | None = None) -> list[str]:
    inventory = discover(Target(home=home), clients)
    plan = plan_protect(inventory, clients, EXE, projects)
    assert not plan.failed, plan.failed
    return apply_plan(plan, home) if plan.changes else []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mcpwarden", *args], capture_output=True, text=True, timeout=60)


def test_round_trip_byte_for_byte(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    before = snapshot(tmp_path)
    done = protect(paths["home"], projects=[paths["project"]])
    assert len([d for d in done if d.startswith("wrapped")]) == 7
    changed = snapshot(tmp_path)
    assert changed != before
    policies = paths["home"] / ".config" / "mcpwarden" / "policies"
    assert len(list(policies.iterdir())) == 6
    result = unprotect(paths["home"])
    assert not result.problems
    assert sum("byte for byte" in line for line in result.restored) == 7
    assert sum("policy written by protect removed" in line for line in result.restored) == 6
    assert snapshot(tmp_path) == before
    assert not list(policies.iterdir())


def test_project_files_only_with_project(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    shared = {p: p.read_bytes() for p in (paths["mcp_json"], paths["vscode_ws"])}
    inventory = discover(Target(home=paths["home"]))
    plan = plan_protect(inventory, None, EXE)
    assert any("pass --project DIR" in line for line in plan.skipped)
    apply_plan(plan, paths["home"])
    assert all(p.read_bytes() == data for p, data in shared.items())
    assert b"mcpwarden" in paths["claude_json"].read_bytes()  # the local scope in ~/.claude.json is yours


def test_wrapped_entries_and_policies(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    protect(paths["home"], projects=[paths["project"]])
    data = json.loads(paths["claude_json"].read_text())
    entry = data["mcpServers"]["github"]
    assert entry["command"] == EXE
    policy_path = paths["home"] / ".config" / "mcpwarden" / "policies" / "claude-code.yaml"
    assert entry["args"][:6] == ["run", "--policy", str(policy_path), "--server", "github", "--"]
    assert entry["args"][6:] == ["npx", "-y", "@modelcontextprotocol/server-github@2025.4.8"]
    assert entry["env"] == {"GITHUB_PERSONAL_ACCESS_TOKEN": FAKE_GITHUB}  # env kept as it was
    assert data["mcpServers"]["remote"] == {"type": "http", "url": "http://mcp.example.com/mcp"}  # HTTP untouched
    policy = load_policy(policy_path)
    # npx fetches the package at start: the registry stays reachable, nothing else
    assert policy.servers["filesystem"].network.allow == ["registry.npmjs.org"]
    assert policy.servers["filesystem"].tools.read_only is False
    github_hosts = ["api.github.com", "github.com", "uploads.github.com", "registry.npmjs.org"]
    assert policy.servers["github"].network.allow == github_hosts
    assert policy.servers["local-db"].network.allow == ["pypi.org", "files.pythonhosted.org"]
    assert policy.servers["approved"].model_dump(exclude_unset=True) == {}  # unknown kind: defaults
    assert os.stat(policy_path).st_mode & 0o077 == 0
    state = paths["home"] / ".config" / "mcpwarden" / "protect"
    assert os.stat(state).st_mode & 0o077 == 0 and os.stat(state / "backups").st_mode & 0o077 == 0
    assert all(os.stat(b).st_mode & 0o077 == 0 for b in (state / "backups").iterdir())
    assert os.stat(state / "manifest.json").st_mode & 0o077 == 0
    for client in ("claude-desktop", "cursor", "vscode", "gemini", "codex"):
        load_policy(paths["home"] / ".config" / "mcpwarden" / "policies" / f"{client}.yaml")
    inventory = discover(Target(home=paths["home"]))
    wrapped = {s.name for s in inventory.servers if s.wrapped}
    assert {"filesystem", "github", "local-db", "slack", "browser", "docs", "trusted"} <= wrapped
    github = next(s for s in inventory.servers if s.name == "github" and s.client == "claude-code")
    assert github.command == "npx" and github.args == ["-y", "@modelcontextprotocol/server-github@2025.4.8"]


def test_idempotent(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    protect(paths["home"])
    once = snapshot(tmp_path)
    manifest = (paths["home"] / ".config" / "mcpwarden" / "protect" / "manifest.json").read_bytes()
    assert protect(paths["home"]) == []
    assert snapshot(tmp_path) == once
    assert (paths["home"] / ".config" / "mcpwarden" / "protect" / "manifest.json").read_bytes() == manifest
    args = json.loads(paths["claude_json"].read_text())["mcpServers"]["github"]["args"]
    assert args.count("run") == 1 and gateway_args(EXE, args) is not None


def test_never_wraps_a_hand_wrapped_entry(tmp_path: Path) -> None:
    home = tmp_path / "h"
    original = write_json(
        home / ".cursor" / "mcp.json",
        {
            "mcpServers": {
                "a": {"command": "python3", "args": ["-m", "mcpwarden", "run", "--", "uvx", "x==1.0"]},
                "b": {"command": "/usr/bin/mcpwarden", "args": ["run", "--server", "b", "--", "npx", "-y", "b@1.0.0"]},
            }
        },
    ).read_bytes()
    assert protect(home) == []
    assert (home / ".cursor" / "mcp.json").read_bytes() == original


def test_client_filter(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    before = snapshot(tmp_path)
    protect(paths["home"], ["cursor"])
    after = snapshot(tmp_path)
    changed = {k for k in before if before[k] != after.get(k)}
    assert changed == {str(paths["cursor"].relative_to(tmp_path))}
    unprotect(paths["home"], ["cursor"])
    assert snapshot(tmp_path) == before


def test_edited_after_protect_reverses_only_its_edits(tmp_path: Path) -> None:
    home = tmp_path / "h"
    config = write(
        home / ".cursor" / "mcp.json", '{\n  "mcpServers": {\n    "a": {"command": "uvx", "args": ["a==1.0"]}\n  }\n}\n'
    )
    original = config.read_text()
    protect(home)
    protected = config.read_text()
    edited = protected.replace('"mcpServers": {', '"mcpServers": {\n    "added": {"command": "true"},', 1)
    config.write_text(edited)
    result = unprotect(home)
    assert not result.problems and "reversed the recorded edits" in result.restored[0]
    assert config.read_text() == original.replace(
        '"mcpServers": {', '"mcpServers": {\n    "added": {"command": "true"},', 1
    )


def test_reprotect_after_edit_then_unprotect(tmp_path: Path) -> None:
    home = tmp_path / "h"
    config = write(
        home / ".cursor" / "mcp.json", '{\n  "mcpServers": {\n    "a": {"command": "uvx", "args": ["a==1.0"]}\n  }\n}\n'
    )
    original = config.read_text()
    protect(home)
    added = '\n    "b": {"command": "npx", "args": ["-y", "b@2.0.0"]},'
    config.write_text(config.read_text().replace('"mcpServers": {', '"mcpServers": {' + added, 1))
    protect(home)
    data = json.loads(config.read_text())
    assert all(gateway_args(e["command"], e["args"]) for e in data["mcpServers"].values())
    unprotect(home)
    assert config.read_text() == original.replace('"mcpServers": {', '"mcpServers": {' + added, 1)


def test_symlinked_config_keeps_its_link(tmp_path: Path) -> None:
    home = tmp_path / "h"
    real = write_json(
        tmp_path / "dotfiles" / "cursor-mcp.json", {"mcpServers": {"a": {"command": "uvx", "args": ["a==1"]}}}
    )
    original = real.read_bytes()
    (home / ".cursor").mkdir(parents=True)
    (home / ".cursor" / "mcp.json").symlink_to(real)
    protect(home)
    assert (home / ".cursor" / "mcp.json").is_symlink()
    assert b"mcpwarden" in real.read_bytes()
    unprotect(home)
    assert (home / ".cursor" / "mcp.json").is_symlink() and real.read_bytes() == original


@pytest.mark.parametrize("newline,bom", [("\r\n", b""), ("\n", b"\xef\xbb\xbf")])
def test_crlf_and_bom(tmp_path: Path, newline: str, bom: bytes) -> None:
    home = tmp_path / "h"
    text = newline.join(
        [
            "{",
            '  "mcpServers": {',
            '    "a": {',
            '      "command": "uvx",',
            '      "args": ["a==1"]',
            "    }",
            "  }",
            "}",
            "",
        ]
    )
    path = home / ".cursor" / "mcp.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(bom + text.encode())
    original = path.read_bytes()
    protect(home)
    wrapped = path.read_bytes()
    assert wrapped.startswith(bom) and (b"\r\n" in wrapped) == (newline == "\r\n")
    assert b"\n" not in wrapped.replace(b"\r\n", b"") or newline == "\n"
    json.loads(wrapped.decode("utf-8-sig"))
    unprotect(home)
    assert path.read_bytes() == original


def test_dry_run_changes_nothing_and_hides_secrets(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    before = snapshot(tmp_path)
    done = cli(
        "protect", "--home", str(paths["home"]), "--dry-run", "--mcpwarden", EXE, "--project", str(paths["project"])
    )
    assert done.returncode == 0, done.stderr
    assert "+++ ~/.claude.json (protected)" in done.stdout
    assert '"--server",' in done.stdout and "policy for codex" in done.stdout
    for secret in (FAKE_GITHUB, FAKE_SLACK, FAKE_KEY):
        assert secret not in done.stdout and secret not in done.stderr
    assert "[REDACTED]" in done.stdout
    assert snapshot(tmp_path) == before
    assert not (paths["home"] / ".config" / "mcpwarden" / "protect").exists()


def test_dry_run_hides_secrets_the_audit_finds_by_their_flag(tmp_path: Path) -> None:
    # FAKE_KEY has no provider format: only the flag before it (or its name) marks it a secret
    home = tmp_path / "h"
    args = ["srv.js", "--api-key", FAKE_KEY, f"--token={FAKE_KEY[::-1]}"]
    write(home / ".cursor" / "mcp.json", json.dumps({"mcpServers": {"b": {"command": "node", "args": args}}}))
    write(
        home / ".codex" / "config.toml",
        f'[mcp_servers.a]\ncommand = "node"\nargs = ["srv.js", "--password", "{FAKE_KEY[::-1]}"]\n',
    )
    done = cli("protect", "--home", str(home), "--dry-run", "--mcpwarden", EXE)
    assert done.returncode == 0, done.stderr
    assert "+++ ~/.cursor/mcp.json (protected)" in done.stdout and "+++ ~/.codex/config.toml" in done.stdout
    for secret in (FAKE_KEY, FAKE_KEY[::-1]):
        assert secret not in done.stdout + done.stderr
    assert '"--api-key", "[REDACTED]", "--token=[REDACTED]"' in done.stdout
    assert '"--password", "[REDACTED]"' in done.stdout


def test_cli_round_trip(tmp_path: Path) -> None:
    paths = build_home(tmp_path)
    before = snapshot(tmp_path)
    done = cli("protect", "--home", str(paths["home"]), "--mcpwarden", EXE)
    assert done.returncode == 0, done.stderr
    assert "remote (HTTP/SSE) server" in done.stderr  # reported, not rewritten
    again = cli("protect", "--home", str(paths["home"]), "--mcpwarden", EXE)
    assert again.returncode == 0 and "nothing to change" in again.stdout
    undone = cli("unprotect", "--home", str(paths["home"]))
    assert undone.returncode == 0, undone.stderr
    assert snapshot(tmp_path) == before
    assert "nothing to restore" in cli("unprotect", "--home", str(paths["home"])).stdout


def test_toml_inline_table_is_refused_not_mangled(tmp_path: Path) -> None:
    home = tmp_path / "h"
    config = write(home / ".codex" / "config.toml", 'mcp_servers = { a = { command = "uvx", args = ["a==1"] } }\n')
    original = config.read_bytes()
    inventory = discover(Target(home=home))
    plan = plan_protect(inventory, None, EXE)
    assert plan.failed and "inline tables" in plan.failed[0]
    assert not plan.changes and config.read_bytes() == original


def test_dry_run_exits_1_when_a_server_could_not_be_wrapped(tmp_path: Path) -> None:
    """A dry run answers "what would protect do" with the exit the real run would give."""
    home = tmp_path / "h"
    write(home / ".codex" / "config.toml", 'mcp_servers = { a = { command = "uvx", args = ["a==1"] } }\n')
    write_json(home / ".claude.json", {"mcpServers": {"fs": {"command": "npx", "args": ["-y", "fs-mcp@1"]}}})
    dry = cli("protect", "--dry-run", "--home", str(home), "--mcpwarden", EXE)
    assert dry.returncode == 1 and "NOT wrapped" in dry.stderr and "would change" in dry.stderr, dry.stderr


def test_a_container_server_is_noted_once_by_its_label(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_json(home / ".claude.json", {"mcpServers": {"ctr9": {"command": "docker", "args": ["run", "-i", "img"]}}})
    dry = cli("protect", "--dry-run", "--home", str(home), "--mcpwarden", EXE)
    notes = [line for line in dry.stderr.splitlines() if "runs in a container" in line]
    assert len(notes) == 1 and notes[0].startswith("note: ") and notes[0].count("ctr9") == 1, dry.stderr


def test_toml_multiline_args_and_comments_round_trip(tmp_path: Path) -> None:
    import tomllib

    home = tmp_path / "h"
    text = (
        "# my codex config\n"
        'model = "o4"\n\n'
        '[mcp_servers."my docs"]\n'
        "# pinned on purpose\n"
        'command = "npx"  # runner\n'
        "args = [\n"
        '  "-y",        # yes\n'
        '  "docs-mcp@1.2.3",\n'
        "]\n"
        "startup_timeout_sec = 20\n\n"
        '[mcp_servers."my docs".env]\n'
        'LOG = "1"\n'
    )
    config = write(home / ".codex" / "config.toml", text)
    protect(home)
    data = tomllib.loads(config.read_text())
    entry = data["mcp_servers"]["my docs"]
    assert entry["command"] == EXE and entry["args"][-3:] == ["npx", "-y", "docs-mcp@1.2.3"]
    assert entry["args"][4] == "my-docs"  # the policy's server name: letters, digits, - _ .
    assert entry["startup_timeout_sec"] == 20 and entry["env"] == {"LOG": "1"}
    assert config.read_text().startswith("# my codex config\n") and "# pinned on purpose" in config.read_text()
    unprotect(home)
    assert config.read_text() == text


def test_existing_policy_is_restored_and_edited_policy_kept(tmp_path: Path) -> None:
    home = tmp_path / "h"
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {"a": {"command": "uvx", "args": ["a==1"]}}})
    write_json(home / ".claude.json", {"mcpServers": {"b": {"command": "uvx", "args": ["b==1"]}}}, mode=0o600)
    policies = home / ".config" / "mcpwarden" / "policies"
    mine = write(policies / "cursor.yaml", "version: 1\nmode: enforce\nservers:\n  other: {}\n")
    original = mine.read_bytes()
    protect(home)
    assert load_policy(mine).servers.keys() == {"other", "a"}  # merged, the existing entry kept
    claude_policy = policies / "claude-code.yaml"
    claude_policy.write_text(claude_policy.read_text() + "# my note\n")
    result = unprotect(home)
    assert mine.read_bytes() == original
    assert claude_policy.exists() and any("left in place" in line for line in result.restored)


def test_servers_whose_names_meet_get_their_own_policy_entries(tmp_path: Path) -> None:
    home, one, two, three = (tmp_path / n for n in ("h", "one", "two", "three"))
    for d in (one, two, three):
        d.mkdir()

    def fs(root: Path) -> dict[str, object]:
        return {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem@1.0.0", str(root)]}

    claude = {
        "mcpServers": {"fs": fs(one), "my db": {"command": "uvx", "args": ["x==1"]}, "my-db": {"command": "y"}},
        "projects": {str(two): {"mcpServers": {"fs": fs(two)}}},
    }
    write_json(home / ".claude.json", claude)
    protect(home)

    def servers() -> dict[str, str]:
        data = json.loads((home / ".claude.json").read_text())
        entries = {f"user:{k}": v for k, v in data["mcpServers"].items()}
        for project, body in data["projects"].items():
            entries.update({f"{project}:{k}": v for k, v in body["mcpServers"].items()})
        return {k: v["args"][v["args"].index("--server") + 1] for k, v in entries.items()}

    names = servers()
    assert len(set(names.values())) == len(names) == 4, names
    policy = load_policy(home / ".config" / "mcpwarden" / "policies" / "claude-code.yaml")
    assert policy.servers[names[f"{two}:fs"]].filesystem.write == [str(two)]
    assert policy.servers[names["user:fs"]].filesystem.write == [str(one)]
    # a server added later under a name an earlier protect gave out gets a fresh entry too
    claude = json.loads((home / ".claude.json").read_text())
    claude["projects"][str(three)] = {"mcpServers": {"fs": fs(three)}}
    write_json(home / ".claude.json", claude)
    protect(home)
    names = servers()
    assert len(set(names.values())) == len(names) == 5, names
    policy = load_policy(home / ".config" / "mcpwarden" / "policies" / "claude-code.yaml")
    assert policy.servers[names[f"{three}:fs"]].filesystem.write == [str(three)]
