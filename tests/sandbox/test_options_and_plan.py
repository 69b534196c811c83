"""Policy options of the sandbox, the unsandboxed default, and the protection plan."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from mcpwarden.errors import PolicyError, SandboxError
from mcpwarden.policy.loader import parse_policy
from mcpwarden.policy.schema import Policy
from mcpwarden.sandbox import prepare, probe
from mcpwarden.sandbox.options import parse_size
from mcpwarden.sandbox.plan import is_sandboxed, plan_report, required

from .conftest import tserver


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"network": {"allow": ["10.0.0.1"]}}, "IP addresses are refused"),
        ({"network": {"allow": ["[::1]:443"]}}, "IP addresses are refused"),
        ({"network": {"allow": ["127.1"]}}, "IP addresses are refused"),
        ({"network": {"allow": ["2130706433:443"]}}, "IP addresses are refused"),
        ({"network": {"allow": ["0x7f.0.0.1"]}}, "IP addresses are refused"),
        ({"network": {"allow": ["exa mple.com"]}}, "is not a host entry"),
        ({"network": {"allow": ["example.com:70000"]}}, "port must be 1-65535"),
        ({"network": "everything"}, "network"),
        ({"filesystem": {"read": ["relative/path"]}}, "must be absolute"),
        ({"filesystem": {"read": ["/"]}}, "the whole filesystem cannot be granted"),
        ({"filesystem": {"write": ["//usr/.."]}}, "the whole filesystem cannot be granted"),
        ({"filesystem": {"read": ["/proc"]}}, "/proc cannot be granted"),
        ({"filesystem": {"read": ["/proc/1/root"]}}, "/proc cannot be granted"),
        ({"limits": {"memory": "lots"}}, "is not a size"),
        ({"limits": {"memory": "1M"}}, "below the 8M minimum"),
        ({"env": {"pass": ["NOT-A-NAME"]}}, "not an environment variable name"),
        ({"env": {"pass": ["HOME", "MCPWARDEN_AUDIT_KEY"]}}, "holds the audit log's HMAC key"),
        ({"secrets": {"TOKEN": "env:MCPWARDEN_AUDIT_KEY"}}, "holds the audit log's HMAC key"),
        ({"require": ["teleport"]}, "require"),
        ({"require": ["pid", "limits"]}, "requires the protection 'limits' but sets no limits"),
    ],
)
def test_bad_sandbox_options_fail_at_load(entry: dict, message: str) -> None:
    import yaml

    text = yaml.safe_dump({"servers": {"s": {"command": "x", **entry}}})
    try:
        parse_policy(text, "p.yaml")
    except PolicyError as exc:
        assert message in str(exc)
        assert "servers.s." in str(exc)
    else:
        raise AssertionError("the policy should have been refused")


def test_sizes() -> None:
    assert parse_size("512M") == 512 * 1024**2
    assert parse_size("1G") == 1024**3
    assert parse_size("256MiB") == 256 * 1024**2
    assert parse_size(4096) == 4096


def test_no_sandbox_keys_means_unsandboxed() -> None:
    _, plain = tserver({"command": "cat"})
    _, sandboxed = tserver({"command": "cat", "env": {"pass": ["X"]}})
    assert not is_sandboxed(plain) and is_sandboxed(sandboxed)
    report = plan_report(plain, probe())
    assert report.tier == "none" and {p.status for p in report.protections.values()} == {"off"}


@pytest.mark.anyio
async def test_unsandboxed_launch_is_the_bare_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_TOKEN", "passes-through")
    monkeypatch.delenv("MCPWARDEN_AUDIT_KEY", raising=False)
    policy, server = tserver({"command": "cat", "args": ["-n"], "cwd": "/"})
    launch = await prepare("t", server, policy, lambda r: None)
    assert launch.argv == ["cat", "-n"] and launch.cwd == "/" and launch.pass_fds == ()
    assert launch.env == dict(os.environ)
    launch.preexec()  # a no-op in this process
    await launch.close()
    await launch.close()


@pytest.mark.anyio
async def test_unsandboxed_launch_keeps_the_gateways_own_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit HMAC key (a server holding it could forge records) and the principals' tokens
    stay with the gateway, although an unsandboxed server otherwise inherits its environment."""
    monkeypatch.setenv("SOME_TOKEN", "passes-through")
    monkeypatch.setenv("MY_AUDIT_KEY", "k" * 32)
    monkeypatch.setenv("ALICE_TOKEN", "t" * 32)
    policy = Policy.model_validate({
        "audit": {"hmac_key_env": "MY_AUDIT_KEY"},
        "principals": {"alice": {"token_env": "ALICE_TOKEN"}},
        "servers": {"t": {"command": "cat"}},
    })
    launch = await prepare("t", policy.servers["t"], policy, lambda r: None)
    assert launch.env["SOME_TOKEN"] == "passes-through"
    assert "MY_AUDIT_KEY" not in launch.env and "ALICE_TOKEN" not in launch.env
    assert launch.env == {k: v for k, v in os.environ.items() if k not in ("MY_AUDIT_KEY", "ALICE_TOKEN")}
    await launch.close()


def test_policy_refuses_the_audit_key_under_defaults_too() -> None:
    with pytest.raises(Exception, match=r"defaults\.env\.pass\[0\].*HMAC key"):
        parse_policy("audit:\n  hmac_key_env: K\ndefaults:\n  env:\n    pass: [K]\n", "p.yaml")


def test_required_protections_follow_the_keys() -> None:
    _, server = tserver({"command": "x", "filesystem": {}, "network": "host", "secrets": {"A": "env:A"},
                         "require": ["pid"]})
    assert required(server) == ["pid", "filesystem", "env"]
    _, server = tserver({"command": "x", "network": "none", "limits": {"pids": 5}})
    assert required(server) == ["network", "limits"]


def test_limits_without_cgroups_are_degraded() -> None:
    from mcpwarden.sandbox.cgroups import CgroupSupport

    caps = dataclasses.replace(probe(), cgroups=CgroupSupport())
    _, server = tserver({"command": "x", "limits": {"memory": "256M", "pids": 50, "cpu": 1}})
    protection = plan_report(server, caps).protections["limits"]
    assert protection.status == "degraded"
    assert "RLIMIT_DATA" in protection.detail and "cpu not limited" in protection.detail


@pytest.mark.anyio
async def test_missing_write_path_and_bad_cwd_are_clear_errors(tmp_path: Path) -> None:
    policy, server = tserver({"command": "/usr/bin/true", "filesystem": {"write": [str(tmp_path / "missing")]}})
    with pytest.raises(SandboxError, match="does not exist"):
        await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)
    policy, server = tserver({"command": "/usr/bin/true", "filesystem": {}, "cwd": "/etc"})
    with pytest.raises(SandboxError, match="outside the sandbox"):
        await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)
    policy, server = tserver({"command": "no-such-command-xyz", "filesystem": {}})
    with pytest.raises(SandboxError, match="not found"):
        await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)


@pytest.mark.anyio
async def test_home_that_is_the_root_is_not_granted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/")  # some service accounts have HOME=/; "~" is then the whole filesystem
    policy, server = tserver({"command": "/usr/bin/true", "filesystem": {"read": ["~"]}})
    with pytest.raises(SandboxError, match="the whole filesystem cannot be granted"):
        await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)


@pytest.mark.anyio
async def test_planted_symlink_as_server_dir_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "sandbox" / "t"
    root.mkdir(parents=True)
    (root / "home").symlink_to("/etc")
    policy, server = tserver({"command": "/usr/bin/true", "filesystem": {}})
    with pytest.raises(SandboxError, match="not a plain directory"):
        await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)


@pytest.mark.anyio
async def test_write_path_holding_the_audit_log_is_refused(tmp_path: Path) -> None:
    """A server that may write the audit log's directory could delete or rewrite the log."""
    project = tmp_path / "project"
    (project / "logs").mkdir(parents=True)
    policy = Policy.model_validate({
        "audit": {"path": str(project / "logs" / "audit.jsonl")},
        "servers": {"t": {"command": "/usr/bin/true", "filesystem": {"write": [str(project)]}}},
    })
    with pytest.raises(SandboxError, match="contains the audit log's directory"):
        await prepare("t", policy.servers["t"], policy, lambda r: None, state_dir=tmp_path)
    # a sibling directory is fine, and so is a write path when the audit log is off
    policy = Policy.model_validate({
        "audit": {"path": str(tmp_path / "elsewhere" / "audit.jsonl")},
        "servers": {"t": {"command": "/usr/bin/true", "filesystem": {"write": [str(project)]}}},
    })
    launch = await prepare("t", policy.servers["t"], policy, lambda r: None, state_dir=tmp_path)
    await launch.close()
    policy = Policy.model_validate({
        "audit": {"enabled": False, "path": str(project / "logs" / "audit.jsonl")},
        "servers": {"t": {"command": "/usr/bin/true", "filesystem": {"write": [str(project)]}}},
    })
    launch = await prepare("t", policy.servers["t"], policy, lambda r: None, state_dir=tmp_path)
    await launch.close()


@pytest.mark.anyio
async def test_missing_read_path_is_warned_about(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    policy, server = tserver({"command": "/usr/bin/true", "filesystem": {"read": [str(tmp_path / "proj*"), "/usr"]}})
    with caplog.at_level("WARNING", logger="mcpwarden.sandbox"):
        launch = await prepare("t", server, policy, lambda r: None, state_dir=tmp_path)
    await launch.close()
    warned = [r.getMessage() for r in caplog.records if r.name == "mcpwarden.sandbox"]
    assert warned == [f"read path {tmp_path / 'proj*'} does not exist, so the server will not see it "
                      "(paths are not globs)"]
