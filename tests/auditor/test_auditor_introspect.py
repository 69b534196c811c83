"""`mcpwarden audit --introspect`: real servers (the official SDK, tests/fixtures/introspect_server.py)
started through the real gateway inside the real bubblewrap sandbox. Without the flag nothing
starts; with it the tool lists land in the cache, the poisoning check reports on them, and a
server that hangs, is missing or cannot run in the sandbox gets its own finding."""

from __future__ import annotations

import collections
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from auditor_homes import write_json

from mcpwarden.auditor import introspect
from mcpwarden.auditor.introspect import (
    IntrospectError,
    Introspection,
    _exit_reason,
    cache_path,
    selected,
    write_cache,
)
from mcpwarden.auditor.introspect_policy import SECRET_PREFIX, build_policy, expand_value
from mcpwarden.auditor.model import ConfigFile, Inventory, ServerEntry
from mcpwarden.policy.schema import Policy
from mcpwarden.sandbox import probe

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "introspect_server.py"
CLI_TIMEOUT = 120
needs_bwrap = pytest.mark.skipif(
    probe().tier != "bwrap", reason="bubblewrap with user namespaces is not available here"
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mcpwarden", "audit", *args], capture_output=True, text=True, timeout=CLI_TIMEOUT
    )


def fixture_copy(tmp_path: Path) -> Path:
    """The fixture under a path unique to this test, so its processes can be found in /proc."""
    script = tmp_path / "bin" / "introspect_server.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(FIXTURE, script)
    return script


def processes_running(token: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = (Path("/proc") / entry / "cmdline").read_bytes()
        except OSError:
            continue
        if token.encode() in cmdline:
            found.append(int(entry))
    return found


def server(name: str, script: Path, *flags: str, env: dict[str, str] | None = None) -> dict[str, object]:
    entry: dict[str, object] = {"command": sys.executable, "args": [str(script), *flags]}
    if env:
        entry["env"] = env
    return entry


def findings(document: dict, check: str, server: str | None = None) -> list[dict]:
    return [f for f in document["findings"] if f["id"] == check and (server is None or f["server"] == server)]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A Claude Code user with a clean server (tools over 3 pages), a poisoned one, one that
    would leave a marker file if it ever ran outside the sandbox, and a command that does not exist."""
    script = fixture_copy(tmp_path)
    home = tmp_path / "home" / "alice"
    write_json(
        home / ".claude.json",
        {
            "mcpServers": {
                "notes": server("notes", script, "--pages", "3", env={"NOTES_LANG": "en", "NOTES_EMPTY": ""}),
                "poisoned": server("poisoned", script, "--poison"),
                "marker": server("marker", script, "--marker", str(tmp_path / "started")),
                "ghost": {"command": "mcpwarden-no-such-server-cmd", "args": []},
            }
        },
        mode=0o600,
    )
    return home


def test_without_introspect_nothing_starts_and_no_tools_are_checked(home: Path, tmp_path: Path) -> None:
    done = cli("--home", str(home), "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert not (tmp_path / "started").exists()
    assert not (home / ".cache").exists()
    assert findings(document, "AUD110") == [] and findings(document, "AUD130") == []
    assert "introspection" not in document


@pytest.mark.parametrize("flag", [["--introspect-server", "notes"], ["--introspect-timeout", "5"]])
def test_introspect_flags_need_introspect(home: Path, tmp_path: Path, flag: list[str]) -> None:
    done = cli("--home", str(home), *flag)
    assert done.returncode == 2 and f"{flag[0]} needs --introspect" in done.stderr
    assert not (tmp_path / "started").exists()


@needs_bwrap
def test_introspect_caches_tools_and_reports_poisoning(home: Path, tmp_path: Path) -> None:
    done = cli("--home", str(home), "--introspect", "--format", "json", "--fail-on", "high")
    assert done.returncode == 1, done.stderr  # the poisoned description is high
    document = json.loads(done.stdout)
    results = {r["server"]: r for r in document["introspection"]}
    assert set(results) == {"notes", "poisoned", "marker", "ghost"}

    notes = results["notes"]
    assert notes["status"] == "ok" and notes["pages"] == 3 and notes["tools"] == 6
    assert notes["protocol_version"] == "2025-11-25"
    assert notes["cache"] == "~/.cache/mcpwarden/tools/claude-code--notes.json"
    cached = json.loads((home / ".cache" / "mcpwarden" / "tools" / "claude-code--notes.json").read_text())
    assert [t["name"] for t in cached["tools"]] == ["echo", "lookup_note", "extra_0", "extra_1", "extra_2",
                                                    "extra_3"]
    assert cached["client"] == "claude-code" and cached["server"] == "notes"

    poisoned_file = home / ".cache" / "mcpwarden" / "tools" / "claude-code--poisoned.json"
    assert stat.S_IMODE(poisoned_file.stat().st_mode) == 0o600
    poisoning = findings(document, "AUD110", "poisoned")
    assert poisoning and all("'lookup_note'" in f["message"] for f in poisoning)
    assert {f["path"] for f in poisoning} == {"~/.cache/mcpwarden/tools/claude-code--poisoned.json"}
    assert findings(document, "AUD110", "notes") == []

    # The marker server ran, but only inside the sandbox: /tmp there is its own, so the file it
    # wrote is not on the host.
    assert results["marker"]["status"] == "ok"
    assert not (tmp_path / "started").exists()

    ghost = findings(document, "AUD130", "ghost")
    assert len(ghost) == 1
    assert "not found" in ghost[0]["message"] and "mcpwarden-no-such-server-cmd" in ghost[0]["message"]
    assert "Traceback" not in json.dumps(document)
    assert not processes_running(str(tmp_path / "bin"))


@needs_bwrap
def test_hanging_server_times_out_and_leaves_no_process(tmp_path: Path) -> None:
    script = fixture_copy(tmp_path)
    home = tmp_path / "home"
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {
        "stuck": server("stuck", script, "--hang"),
        "other": server("other", script),
    }})
    started = time.monotonic()
    done = cli("--home", str(home), "--introspect", "--introspect-server", "stuck", "--introspect-timeout", "2",
               "--no-color", "--fail-on", "never")
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert "AUD130" in done.stdout and "introspection timeout" in done.stdout
    assert "introspected 1 servers" in done.stdout
    assert elapsed < 2 + 15, elapsed
    assert not (home / ".cache" / "mcpwarden" / "tools" / "cursor--other.json").exists()  # not selected
    deadline = time.monotonic() + 5
    while processes_running(str(script)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_running(str(script)) == []


@needs_bwrap
def test_table_report_names_introspected_servers(tmp_path: Path) -> None:
    script = fixture_copy(tmp_path)
    home = tmp_path / "home"
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {"clean": server("clean", script)}})
    done = cli("--home", str(home), "--introspect", "--no-color", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    assert "introspected 1 servers in the sandbox (1 listed their tools)" in done.stdout
    assert "cursor:clean: 2 tools" in done.stdout


def _entry(tmp_path: Path, command: str, args: list[str], env: dict[str, str] | None = None) -> ServerEntry:
    config = ConfigFile(client="cursor", scope="user", path=tmp_path / "mcp.json", kind="json")
    return ServerEntry("cursor", "user", "srv", config, ("mcpServers", "srv"), {}, "stdio", command=command,
                       args=args, env=env or {})


def test_servers_beyond_the_cap_are_named_in_a_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(introspect, "MAX_SERVERS", 2)
    entries = [_entry(tmp_path, sys.executable, [str(FIXTURE)]) for _ in range(3)]
    inventory = Inventory(servers=entries)
    assert len(selected(inventory)) == 2
    assert inventory.notes == [
        "--introspect started the first 2 of 3 servers; name the others with --introspect-server"
    ]


def test_a_failed_cache_write_does_not_fail_the_same_entry_of_another_client(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def listed(server: ServerEntry, home: Path, options: object) -> Introspection:
        return Introspection(server, "ok", tools=[{"name": "echo"}], pages=1)

    monkeypatch.setattr(introspect, "introspect_one", listed)  # bookkeeping under test, not the run
    first = _entry(tmp_path, sys.executable, [str(FIXTURE)])
    second = ServerEntry("codex", "user", "srv", ConfigFile(client="codex", scope="user", path=tmp_path / "c.toml",
                         kind="toml"), ("mcp_servers", "srv"), {}, "stdio", command=first.command, args=first.args)
    home = tmp_path / "home"
    cache_path(home, first).mkdir(parents=True)  # a directory where the first cache file goes
    results = introspect.introspect_all(Inventory(servers=[first, second], home=home), home,
                                        introspect.IntrospectOptions())
    assert [r.status for r in results] == ["failed", "ok"]
    assert "tool list not written" in results[0].reason
    assert json.loads(cache_path(home, second).read_text())["tools"] == [{"name": "echo"}]


def test_policy_is_locked_down_and_keeps_env_values_out(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    value = "s3cr3t-value-" + "x" * 12
    entry = _entry(tmp_path, sys.executable, [str(FIXTURE), "--root", str(data), "/", str(tmp_path / "missing")],
                   {"API_TOKEN": "${INTROSPECT_TEST_VAR}", "MODE": "fast", "BLANK": "", "ASK": "${input:key}"})
    built = build_policy(entry, tmp_path / "home", tmp_path / "work", {"INTROSPECT_TEST_VAR": value, "PATH": ""})
    text = yaml.safe_dump(built.document)
    assert value not in text and "fast" not in text
    assert value not in repr(built)
    server = Policy.model_validate(built.document).servers[built.name]
    assert server.network == "none"
    assert server.filesystem is not None and server.filesystem.write == []
    read = server.filesystem.read
    assert str(data) in read and str(FIXTURE) in read
    assert "/" not in read and str(tmp_path / "missing") not in read
    assert sys.prefix in read  # the interpreter's venv (or installation)
    assert set(server.secrets) == {"API_TOKEN", "MODE"}
    assert all(ref.startswith(f"env:{SECRET_PREFIX}") for ref in server.secrets.values())
    assert sorted(built.secret_environ.values()) == sorted([value, "fast"])
    assert server.env is not None and server.env.set == {"BLANK": ""}
    assert "ASK" not in server.secrets and any("env.ASK" in n for n in built.notes)
    assert server.require == ["fs", "net", "env", "pid"] and server.limits is not None
    assert server.restart.max_restarts == 0
    assert built.document["audit"]["path"] == str(tmp_path / "work" / "audit.jsonl")


def test_package_runners_reach_only_their_registry(tmp_path: Path) -> None:
    npx = build_policy(_entry(tmp_path, "npx", ["-y", "@modelcontextprotocol/server-memory@2025.1.1"]),
                       tmp_path, tmp_path)
    uvx = build_policy(_entry(tmp_path, "uvx", ["mcp-server-time==1.0"]), tmp_path, tmp_path)
    assert npx.document["servers"][npx.name]["network"] == {"allow": ["registry.npmjs.org"]}
    assert uvx.document["servers"][uvx.name]["network"] == {"allow": ["pypi.org", "files.pythonhosted.org"]}


def test_variable_expansion() -> None:
    env = {"A": "1"}
    assert expand_value("x${A}y", env) == "x1y"
    assert expand_value("${B:-dflt}", env) == "dflt"
    assert expand_value("${env:A}", env) == "1"
    assert expand_value("${input:tok}", env) is None


def test_cache_is_written_atomically_with_mode_0600(tmp_path: Path) -> None:
    entry = _entry(tmp_path, "x", [])
    path = cache_path(tmp_path / "home", entry)
    result = Introspection(entry, "ok", tools=[{"name": "a", "description": "b"}])
    write_cache(path, entry, "~/mcp.json", result)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["tools"] == [{"name": "a", "description": "b"}]
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    linked_home = tmp_path / "h2"
    (linked_home / ".cache" / "mcpwarden").mkdir(parents=True)
    (linked_home / ".cache" / "mcpwarden" / "tools").symlink_to(elsewhere)
    with pytest.raises(IntrospectError, match="not a plain directory"):
        write_cache(cache_path(linked_home, entry), entry, "~/mcp.json", result)
    assert list(elsewhere.iterdir()) == []


def test_failure_reason_shows_only_the_gateways_own_words() -> None:
    stderr = collections.deque(["token=leaked-by-the-server", "mcpwarden: server 'x' not started: fs is off here"])
    reason = _exit_reason(6, stderr)
    assert reason.startswith("refused by the sandbox: server 'x' not started")
    assert "leaked" not in reason
    assert _exit_reason(0, collections.deque()) == "closed its output before listing its tools"


STATELESS_FIXTURE = FIXTURE.parent / "stateless_server.py"


def stateless_copy(tmp_path: Path) -> Path:
    script = tmp_path / "bin" / "stateless_server.py"
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(STATELESS_FIXTURE, script)
    return script


@needs_bwrap
def test_stateless_era_server_is_listed_over_server_discover(tmp_path: Path) -> None:
    """Servers of the 2026-07-28 era only (tests/fixtures/stateless_server.py): `initialize` is an
    error, `server/discover` and `tools/list` answer only with the per-request `_meta`; one that
    rejects `server/discover` too gets AUD130 saying so."""
    script = stateless_copy(tmp_path)
    home = tmp_path / "home"
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {
        "modern": server("modern", script, "--poison", "--marker", str(tmp_path / "started")),
        "modern-version": server("modern-version", script, "--initialize-error", "-32022", "--pages", "3"),
        "relic": server("relic", script, "--reject-all"),
        "future": server("future", script, "--supported", "2027-03-01"),
    }})
    done = cli("--home", str(home), "--introspect", "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    results = {r["server"]: r for r in document["introspection"]}

    modern = results["modern"]
    assert modern["status"] == "ok", modern["reason"]
    assert modern["pages"] == 2 and modern["protocol_version"] == "2026-07-28"
    cached = json.loads((home / ".cache" / "mcpwarden" / "tools" / "cursor--modern.json").read_text())
    assert [t["name"] for t in cached["tools"]] == ["echo", "lookup_note", "extra_0", "extra_1"]
    assert cached["protocol_version"] == "2026-07-28"
    poisoning = findings(document, "AUD110", "modern")
    assert poisoning and all("'lookup_note'" in f["message"] for f in poisoning)
    assert {f["path"] for f in poisoning} == {"~/.cache/mcpwarden/tools/cursor--modern.json"}
    assert not (tmp_path / "started").exists()  # it ran in the sandbox's own /tmp

    version = results["modern-version"]  # initialize answered with UnsupportedProtocolVersionError
    assert version["status"] == "ok", version["reason"]
    assert version["pages"] == 3 and version["tools"] == 6 and version["protocol_version"] == "2026-07-28"
    assert findings(document, "AUD110", "modern-version") == []

    relic = findings(document, "AUD130", "relic")
    assert len(relic) == 1
    message = relic[0]["message"]
    assert "initialize" in message and "server/discover" in message and "-32601" in message, message
    assert results["relic"]["cache"] is None
    assert not (home / ".cache" / "mcpwarden" / "tools" / "cursor--relic.json").exists()
    assert message.startswith("introspection failed: neither initialize (error -32601"), message

    future = findings(document, "AUD130", "future")  # speaks only a version mcpwarden does not know
    assert len(future) == 1
    assert "-32022" in future[0]["message"] and "the server supports 2027-03-01" in future[0]["message"]
    assert "Traceback" not in done.stdout + done.stderr
    assert not processes_running(str(tmp_path / "bin"))


ECHOING_SERVER = """
import json, os, sys
token = os.environ["API_TOKEN"]
for line in sys.stdin:
    message = json.loads(line)
    if "id" not in message:
        continue
    text = "\\x1b[2J" + "x" * 176 + " invalid key " + token
    error = {"code": -32022, "message": text, "data": {"supported": [token]}}
    print(json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}), flush=True)
"""


@needs_bwrap
def test_env_values_a_server_echoes_are_not_in_the_report(tmp_path: Path) -> None:
    """A server that puts its token in error messages (cut at 200 characters, and in the list of
    versions it supports) after an escape sequence: the reason says what failed, the report
    carries no part of the token and no control character."""
    token = "tok-" + "q7" * 12
    script = tmp_path / "bin" / "echoing_server.py"
    script.parent.mkdir(parents=True)
    script.write_text(ECHOING_SERVER)
    home = tmp_path / "home"
    write_json(home / ".cursor" / "mcp.json", {"mcpServers": {
        "echoing": server("echoing", script, env={"API_TOKEN": token}),
    }})
    done = cli("--home", str(home), "--introspect", "--format", "json", "--fail-on", "never")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)["introspection"][0]
    assert result["status"] == "failed" and "-32022" in result["reason"] and "REDACTED" in result["reason"]
    assert token[:6] not in done.stdout + done.stderr
    assert "\x1b" not in result["reason"] and "?[2J" in result["reason"]  # no escape sequence reaches a terminal


def test_exit_reason_hides_env_values_in_a_line_the_server_printed() -> None:
    stderr = collections.deque(["mcpwarden: looks like the gateway, key=tok-12345678"])
    reason = _exit_reason(9, stderr, ("tok-12345678",))
    assert "tok-1234" not in reason and "[REDACTED]" in reason


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "3601", "soon"])
def test_bad_introspect_timeout_is_a_usage_error(home: Path, tmp_path: Path, value: str) -> None:
    done = cli("--home", str(home), "--introspect", "--introspect-timeout", value)
    assert done.returncode == 2 and "--introspect-timeout" in done.stderr and "seconds" in done.stderr
    assert not (home / ".cache").exists() and not (tmp_path / "started").exists()
