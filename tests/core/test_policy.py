import re
from pathlib import Path

import pytest

from mcpwarden.errors import PolicyError
from mcpwarden.policy.loader import default_policy, load_policy, parse_policy

GOOD = """
version: 1
mode: enforce
gateway: {max_message_bytes: 67108864, request_timeout: 30}
servers:
  fs:
    command: npx
    args: [-y, "@modelcontextprotocol/server-filesystem", /srv/data]
    tools:
      allow: ["read_*", list_directory]
      deny: [write_file]
      read_only: false
  notes:
    command: uvx
    args: [notes-server]
    mode: monitor
    tools: {read_only: true, reads: [search]}
"""


def test_good_policy_parses():
    policy = parse_policy(GOOD, "p.yaml")
    assert policy.servers["fs"].tools.deny == ["write_file"]
    assert policy.mode_for(policy.servers["notes"]) == "monitor"
    assert policy.mode_for(policy.servers["fs"]) == "enforce"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "servers:\n  fs:\n    command: x\n    tools:\n      alow: [a]\n",
            "p.yaml:5: servers.fs.tools.alow: unknown key",
        ),
        ("mode: strict\n", "p.yaml:1: mode:"),
        ("servers:\n  fs:\n    command: x\n    tools: {read_only: maybe}\n", "p.yaml:4: servers.fs.tools.read_only"),
        ("gateway:\n  request_timeout: -1\n", "p.yaml:2: gateway.request_timeout"),
        ("gateway:\n  startup_timeout: 0\n", "p.yaml:2: gateway.startup_timeout"),
        ("gateway:\n  startup_timeout: soon\n", "p.yaml:2: gateway.startup_timeout"),
        ("gateway:\n  stream_results: sometimes\n", "p.yaml:2: gateway.stream_results"),
        ("servers: [a, b]\n", "p.yaml:1: servers"),
        ("a: [\n", "p.yaml:2: not valid YAML"),
        ("- 1\n- 2\n", "the policy must be a mapping"),
        ("servers:\n  a:\n    command: x\n  a:\n    command: y\n", "p.yaml:4: servers.a: duplicate key"),
        ("servers:\n  'bad name':\n    command: x\n", "servers"),
        ("servers:\n  s:\n    command: x\n    url: http://127.0.0.1/\n", "not both"),
        ("principals:\n  alice: {roles: [admin]}\n", "role 'admin'"),
        ("version: 2\n", "version"),
    ],
)
def test_bad_policies_name_line_and_field(text, expected):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert expected in str(info.value)


def test_empty_policy_is_the_default():
    assert parse_policy("", "p.yaml") == default_policy()


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(PolicyError, match="not UTF-8"):
        load_policy(bad)


def test_default_policy_allows_every_tool_and_audits():
    policy = default_policy()
    server = policy.server("anything")
    assert server.tools.allow == ["*"] and server.tools.deny == []
    assert policy.audit.enabled and policy.detection.enabled and policy.mode == "enforce"


def test_unlisted_server_takes_defaults():
    policy = parse_policy("defaults:\n  tools: {deny: [rm]}\n", "p.yaml")
    assert policy.server("x").tools.deny == ["rm"]


def test_policy_check_command(tmp_path, capsys):
    from mcpwarden.cli import main

    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert main(["policy", "check", str(good)]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("servers:\n  fs:\n    comand: x\n")
    assert main(["policy", "check", str(bad)]) == 5
    assert "bad.yaml:3: servers.fs.comand: unknown key" in capsys.readouterr().err


def test_readme_example_policy_is_valid():
    """The README's complete example policy must stay a valid policy."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = re.search(r"```yaml\n(# mcpwarden\.yaml.*?)```", readme, re.S)
    assert example is not None, "the README lost its example policy"
    policy = parse_policy(example.group(1), "README.md")
    assert set(policy.servers) == {"filesystem", "notes"}
    assert policy.gateway.startup_timeout == 300 > policy.gateway.request_timeout


def test_every_problem_is_one_prefixed_line_naming_the_key_as_written(tmp_path: Path, capsys) -> None:
    """A mistake inside `network: {allow: [...]}` is reported once, at the key the user wrote
    (no schema class or union branch in the path), and every line of the report is marked."""
    from mcpwarden.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "gateway:\n  request_timeout: 0\nservers:\n  a:\n    command: x\n    network: {allow: ['10.0.0.1']}\n"
        "  b:\n    command: y\n    network: hots\n"
    )
    assert main(["policy", "check", str(bad)]) == 5
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        f"mcpwarden: {bad}:2: gateway.request_timeout: Input should be greater than 0",
        f"mcpwarden: {bad}:6: servers.a.network.allow[0]: Value error, '10.0.0.1': IP addresses are refused by "
        "the egress proxy; name the host instead",
        f"mcpwarden: {bad}:9: servers.b.network: Input should be 'none' or 'host'",
    ]


def test_a_server_named_like_a_union_branch_keeps_its_name_in_errors(tmp_path: Path, capsys) -> None:
    from mcpwarden.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("servers:\n  network-options:\n    command: x\n    restart: {max_restarts: -1}\n")
    assert main(["policy", "check", str(bad)]) == 5
    err = capsys.readouterr().err
    assert f"{bad}:4: servers.network-options.restart.max_restarts:" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: &a [*a]\n", r"rec\.yaml:1: a\[0\]\[0\]\.\.\.: nested deeper than 64 levels"),
        ("x: " + "[" * 20000 + "]" * 20000 + "\n", r"rec\.yaml: not a usable policy: nested too deeply"),
        (
            'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
            + "".join(f"{n}: &{n} [{','.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)),
            r"expands to more than 100000 values",
        ),
    ],
    ids=["alias-containing-itself", "deep-nesting", "billion-laughs"],
)
def test_hostile_yaml_is_refused_quickly_not_crashed_on(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "rec.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=expected):
        load_policy(path)


def test_the_size_limit_holds_for_what_is_not_a_regular_file() -> None:
    with pytest.raises(PolicyError, match="larger than the limit"):
        load_policy("/dev/zero")


def test_a_bad_log_level_in_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, MCPWARDEN_LOG="verbose", XDG_STATE_HOME=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "mcpwarden", "run", "--", "true"], input=b"", env=env,
                          capture_output=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert b"MCPWARDEN_LOG='verbose' is not a log level" in done.stderr and b"Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"version: 1\nroles:\n  reader: {}\nprincipals:\n  bot:\n    roles: [reader, nope]\n",
         r"p\.yaml:6: principals\.bot\.roles\[1\]: principal 'bot' names role 'nope'"),
        (b'version: 1\nservers:\n  ok: {command: x}\n  "bad name!": {command: x}\n',
         r"p\.yaml:4: servers\.bad name!: server name 'bad name!' may hold only"),
        (b'version: 1\nservers:\n  a: {command: "x\x01"}\n', r"p\.yaml:3: not valid YAML: character U\+0001"),
        (b'version: 1\nservers:\n  a: {command: "x\xff"}\n', r"p\.yaml:3: policy file is not UTF-8"),
    ],
    ids=["undefined-role", "bad-server-name", "control-character", "invalid-utf8"],
)
def test_validator_and_reader_errors_name_the_line_and_field(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(data)
    with pytest.raises(PolicyError, match=expected):
        load_policy(path)


def test_detection_action_off_may_be_written_unquoted() -> None:
    """docs/detection.md names the action `off`; YAML 1.1 (PyYAML) reads an unquoted `off` as
    false, which used to make the policy invalid ("Input should be ... 'off'")."""
    text = (
        "detection:\n  arguments: off\n  pii: off\n  rules:\n    jwt: {action: off, results: off}\n"
        "  servers:\n    gh:\n      generic: off\n      tools:\n        '*': {results: off}\n"
    )
    detection = parse_policy(text, "p.yaml").detection
    assert detection.arguments == "off" and detection.pii == "off"
    assert detection.rules["jwt"].action == "off" and detection.rules["jwt"].results == "off"
    assert detection.servers["gh"].generic == "off" and detection.servers["gh"].tools["*"].results == "off"
    with pytest.raises(PolicyError, match=r"p\.yaml:2: detection\.arguments"):
        parse_policy("detection:\n  arguments: yes\n", "p.yaml")  # `on`/`yes` name no action
