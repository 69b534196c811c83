"""`mcpwarden log verify|show`, run as a real command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
from audit_helpers import KEY_ENV, TEST_KEY, read_lines, write_lines

from mcpwarden.audit import AuditLog, AuditOptions

WriteLog = Callable[..., AuditOptions]


def mcpwarden(*args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, "MCPWARDEN_AUDIT_KEY")}
    if key is not None:
        env[KEY_ENV] = key
    return subprocess.run(
        [sys.executable, "-m", "mcpwarden", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_verify_ok(write_log: WriteLog) -> None:
    options = write_log(12)
    done = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path)
    assert done.returncode == 0, done.stderr
    assert "OK, 12 records verified (seq 0..11) in 1 file, SHA-256 (unkeyed); head matches" in done.stdout


def test_verify_tampered_exits_3_naming_the_record(write_log: WriteLog) -> None:
    options = write_log(12)
    lines = read_lines(options.path)
    del lines[6]
    write_lines(options.path, lines)
    done = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path)
    assert done.returncode == 3
    assert "CHAIN BROKEN" in done.stderr and "line 7 (seq 7): seq 6 missing before it" in done.stderr
    assert done.stdout == ""


def test_verify_keyed(write_log: WriteLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    options = write_log(5)
    done = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path, key=TEST_KEY)
    assert done.returncode == 0 and "HMAC-SHA-256" in done.stdout, done.stderr
    without = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path)
    assert without.returncode == 4 and f"set ${KEY_ENV}" in without.stderr
    wrong = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path, key="the-wrong-key-0123456789")
    assert wrong.returncode == 3 and "wrong key" in wrong.stderr
    assert TEST_KEY not in done.stdout + without.stderr + wrong.stderr


def test_verify_directory_with_two_logs_reports_each(write_log: WriteLog) -> None:
    good = write_log(4, name="a.jsonl")
    bad = write_log(4, name="b.jsonl")
    write_lines(bad.path, read_lines(bad.path)[:3])
    done = mcpwarden("log", "verify", "--key-env", KEY_ENV, os.path.dirname(good.path))
    assert done.returncode == 3
    assert f"{good.path}: OK, 4 records verified" in done.stdout
    assert f"{bad.path}: CHAIN BROKEN" in done.stderr and "1 record(s) were removed from the end" in done.stderr


def test_verify_reports_every_log_and_a_broken_chain_wins(write_log: WriteLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """A log that cannot be verified (it needs a key) must not hide another log's broken chain,
    nor stop the logs after it from being checked."""
    broken = write_log(5, name="a.jsonl")
    write_lines(broken.path, read_lines(broken.path)[:2] + read_lines(broken.path)[3:])
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    keyed = write_log(3, name="b.jsonl")
    monkeypatch.delenv(KEY_ENV)
    good = write_log(2, name="c.jsonl")
    args = ("log", "verify", "--key-env", KEY_ENV, broken.path, keyed.path, good.path)
    done = mcpwarden(*args)
    assert done.returncode == 3, done.stderr
    assert f"{broken.path}: CHAIN BROKEN" in done.stderr and f"set ${KEY_ENV}" in done.stderr
    assert f"{good.path}: OK, 2 records verified" in done.stdout
    as_json = mcpwarden(*args, "--format", "json")
    assert as_json.returncode == 3
    objects = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert [o.get("ok") for o in objects] == [False, False, True]
    assert f"set ${KEY_ENV}" in objects[1]["error"]
    only_unreadable = mcpwarden("log", "verify", "--key-env", KEY_ENV, keyed.path, good.path)
    assert only_unreadable.returncode == 4 and f"{good.path}: OK" in only_unreadable.stdout


def test_verify_torn_end_and_no_head(write_log: WriteLog) -> None:
    options = write_log(6)
    with open(options.path, "ab") as handle:
        handle.write(b'{"v":1,"seq":6,"ts"')
    done = mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path)
    assert done.returncode == 0
    assert "1 incomplete record at the end, likely a crash; 6 records verified" in done.stdout
    os.unlink(options.path + ".head")
    assert mcpwarden("log", "verify", "--key-env", KEY_ENV, options.path).returncode == 3
    assert mcpwarden("log", "verify", "--key-env", KEY_ENV, "--no-head", options.path).returncode == 0


def test_verify_uses_the_policy_path(write_log: WriteLog, tmp_path: Path) -> None:
    options = write_log(3)
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"version: 1\naudit:\n  path: {options.path}\n  hmac_key_env: {KEY_ENV}\n")
    done = mcpwarden("log", "verify", "--policy", str(policy))
    assert done.returncode == 0 and "OK, 3 records verified" in done.stdout, done.stderr


def test_verify_missing_log(tmp_path: Path) -> None:
    done = mcpwarden("log", "verify", str(tmp_path / "nothing.jsonl"))
    assert done.returncode == 4 and "no such audit log" in done.stderr


def test_show_filters(write_log: WriteLog) -> None:
    options = write_log(20)
    as_json = mcpwarden("log", "show", options.path, "--verdict", "deny", "--server", "web", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    records = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    # tcall_record: deny when i % 5 == 0, server "web" when i is even
    assert [r["seq"] for r in records] == [0, 10]
    assert all(r["verdict"] == "deny" and r["server"] == "web" for r in records)
    tool = mcpwarden("log", "show", options.path, "--tool", "tool1", "--limit", "2", "--format", "json")
    assert [orjson.loads(line)["seq"] for line in tool.stdout.splitlines()] == [16, 19]
    for limit in ("0", "-3", "x"):  # not "every record": a usage error
        bad_limit = mcpwarden("log", "show", options.path, "--limit", limit)
        assert bad_limit.returncode == 2 and "not a number of records" in bad_limit.stderr, bad_limit.stderr
    recent = mcpwarden("log", "show", options.path, "--since", "1h", "--format", "json")
    assert len(recent.stdout.splitlines()) == 20
    future = mcpwarden("log", "show", options.path, "--since", "2999-01-01", "--format", "json")
    assert future.stdout == ""
    bad = mcpwarden("log", "show", options.path, "--since", "yesterday-ish")
    assert bad.returncode == 2 and "give a duration like 15m" in bad.stderr  # a usage error, not an unreadable log
    for ages_ago in ("99999999d", "99999999999999999999w"):  # beyond what a datetime holds: everything, no traceback
        old = mcpwarden("log", "show", options.path, "--since", ages_ago, "--format", "json")
        assert old.returncode == 0 and len(old.stdout.splitlines()) == 20, old.stderr


def test_show_table(write_log: WriteLog) -> None:
    options = write_log(6)
    done = subprocess.run(
        [sys.executable, "-m", "mcpwarden", "log", "show", options.path, "--verdict", "deny"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stderr
    assert "tools.deny" in done.stdout and "2 record(s)" in done.stdout
    assert "tool0" in done.stdout and "tool2" in done.stdout


def test_verify_json_and_default_path(tmp_path: Path) -> None:
    from mcpwarden.audit import AuditLog

    state = tmp_path / "state"
    options = AuditOptions(path=str(state / "mcpwarden" / "audit.jsonl"), hmac_key_env=KEY_ENV)
    with AuditLog.open(options) as log:
        log.append({"event": "call", "tool": "x"})
    env = {k: v for k, v in os.environ.items() if k not in (KEY_ENV, "MCPWARDEN_AUDIT_KEY")}
    env["XDG_STATE_HOME"] = str(state)
    done = subprocess.run(
        [sys.executable, "-m", "mcpwarden", "log", "verify", "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["ok"] is True and report["log"] == options.path and report["records"] == 1
    assert report["head"] == "matches" and report["incomplete_at_end"] == 0


def test_show_prints_values_literally(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A tool name is chosen by the client: `log show` must not read it as markup (crash,
    hidden or altered text) nor pass terminal escapes through."""
    path = str(tmp_path / "audit.jsonl")
    with AuditLog.open(AuditOptions(path=path, hmac_key_env=KEY_ENV)) as log:
        log.append({"event": "call", "server": "s", "tool": "[/x]"})
        log.append({"event": "call", "server": "s", "tool": "[bold]read_file[/bold]"})
        log.append({"event": "upstream", "server": "s", "detail": "\x1b]0;owned\x07\x1b[2J\u202egnp.exe"})
    monkeypatch.setenv("COLUMNS", "400")
    done = mcpwarden("log", "show", path)
    assert done.returncode == 0, done.stderr
    assert "[/x]" in done.stdout and "[bold]read_file[/bold]" in done.stdout
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert "detail=\\x1b]0;owned\\x07\\x1b[2J\\u202egnp.exe" in done.stdout

