"""Skills as policy: `mcpwarden run --skill SKILL.md` narrows the server's policy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from mcpwarden.errors import PolicyError
from mcpwarden.policy.schema import ServerPolicy
from mcpwarden.policy.skill import apply_skill
from mcpwarden.sandbox.options import FilesystemOptions, NetworkOptions
from mcpwarden.wire import codes

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "fixture_server.py"


def skill(tmp_path: Path, frontmatter: str, name: str = "helper") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    path = folder / "SKILL.md"
    path.write_text(f"---\nname: {name}\ndescription: test skill\n{frontmatter}---\nbody\n")
    return path


def test_allowed_tools_grant_only_the_named_tools_of_the_named_server(tmp_path: Path) -> None:
    path = skill(tmp_path, "allowed-tools: Read mcp__fx__echo mcp__fx__add\n")
    applied = apply_skill(str(path), None, "fx", ServerPolicy(command="x"))
    assert applied.tools is not None and sorted(applied.tools.allow) == ["add", "echo"]
    other = apply_skill(str(path), None, "other", ServerPolicy(command="x"))
    assert other.tools is not None and other.tools.allow == []


def test_skill_without_allowed_tools_leaves_tools_alone(tmp_path: Path) -> None:
    applied = apply_skill(str(skill(tmp_path, "license: MIT\n")), None, "fx", ServerPolicy(command="x"))
    assert applied.tools is None and applied.server.filesystem is None and applied.server.network is None


def test_paths_and_network_only_narrow(tmp_path: Path) -> None:
    path = skill(tmp_path, f"restricted_paths: [{tmp_path}/a, /etc]\nnetwork_allowed: [pypi.org, evil.example]\n")
    own = ServerPolicy(
        command="x",
        filesystem=FilesystemOptions(read=[str(tmp_path)], write=[str(tmp_path / "a")]),
        network=NetworkOptions(allow=["pypi.org"]),
    )
    applied = apply_skill(str(path), None, "fx", own)
    # A plain list of restricted_paths is read-write; /etc lies outside the server's own paths.
    assert applied.server.filesystem.write == [f"{tmp_path}/a"]
    assert "/etc" not in applied.server.filesystem.read
    assert applied.server.network == NetworkOptions(allow=["pypi.org"])
    assert any("/etc" in note for note in applied.notes)


def test_network_false_means_none(tmp_path: Path) -> None:
    applied = apply_skill(str(skill(tmp_path, "network_allowed: false\n")), None, "fx", ServerPolicy(command="x"))
    assert applied.server.network == "none"


@pytest.mark.parametrize(
    ("content", "message"),
    [("no frontmatter here\n", "frontmatter"), ("---\nnetwork_allowed: 5\n---\n", "network_allowed")],
)
def test_bad_skills_are_policy_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "SKILL.md"
    path.write_text(content)
    with pytest.raises(PolicyError, match=message):
        apply_skill(str(path), None, "fx", ServerPolicy(command="x"))
    with pytest.raises(PolicyError, match="cannot read"):
        apply_skill(str(tmp_path / "missing.md"), None, "fx", ServerPolicy(command="x"))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_run_under_a_skill_hides_and_refuses_tools_it_does_not_grant(tmp_path: Path) -> None:
    path = skill(tmp_path, "allowed-tools: mcp__fx__echo\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"audit: {{path: {tmp_path / 'audit.jsonl'}}}\nservers:\n  fx: {{command: {sys.executable}}}\n")
    args = ["-m", "mcpwarden", "run", "--policy", str(policy), "--server", "fx", "--skill", str(path)]
    params = StdioServerParameters(command=sys.executable, args=[*args, "--", sys.executable, str(FIXTURE)])
    params.env = dict(os.environ)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy") as client:
            assert [t.name for t in (await client.list_tools()).tools] == ["echo"]
            assert (await client.call_tool("echo", {"text": "ok"})).content[0].text == "ok"
            with pytest.raises(MCPError) as info:
                await client.call_tool("add", {"a": 1, "b": 2})
            assert info.value.code == codes.DENIED and "skill.tools" in info.value.message
    assert b'"event":"skill"' in (tmp_path / "audit.jsonl").read_bytes()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--skill-preset", "documents"], "--skill-preset needs --skill"),
        (["--skill-preset", "nope"], "unknown skill preset"),
    ],
)
def test_bad_skill_flags_are_refused_before_anything_starts(tmp_path: Path, capsys, extra, message) -> None:
    from mcpwarden.cli import main

    args = ["run", *extra]
    if "nope" in extra:
        args += ["--skill", str(skill(tmp_path, "license: MIT\n"))]
    assert main([*args, "--", sys.executable, "-c", "raise SystemExit(9)"]) == 2  # a usage error
    assert message in capsys.readouterr().err
