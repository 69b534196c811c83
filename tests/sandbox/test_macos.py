"""The generated sandbox-exec profile (macOS cannot run here: the text is what is tested)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcpwarden.sandbox.environment import ServerDirs
from mcpwarden.sandbox.macos import profile


def _dirs(tmp_path: Path) -> ServerDirs:
    return ServerDirs(tmp_path, tmp_path / "home", tmp_path / "cache", tmp_path / "tmp")


def test_deny_by_default_with_declared_paths(tmp_path: Path) -> None:
    text = profile(["/Users/me/docs"], ["/Users/me/out"], _dirs(tmp_path), proxy_port=4711, host_network=False)
    lines = text.splitlines()
    assert lines[:2] == ["(version 1)", "(deny default)"]
    read = next(line for line in lines if line.startswith("(allow file-read*"))
    write = next(line for line in lines if line.startswith("(allow file-write*"))
    assert '(subpath "/Users/me/docs")' in read and '(subpath "/Users/me/out")' in read
    assert '(subpath "/Users/me/out")' in write and "/Users/me/docs" not in write
    assert f'(subpath "{tmp_path / "home"}")' in write
    assert '(allow network-outbound (remote tcp "localhost:4711"))' in lines
    assert "(allow network*)" not in lines


def test_no_network_without_proxy(tmp_path: Path) -> None:
    text = profile([], [], _dirs(tmp_path), proxy_port=None, host_network=False)
    assert not any(line.startswith("(allow network") for line in text.splitlines())


def test_host_network(tmp_path: Path) -> None:
    assert "(allow network*)" in profile([], [], _dirs(tmp_path), proxy_port=None, host_network=True)


def test_paths_cannot_inject_rules(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        profile(['/x") (allow default) ("'], [], _dirs(tmp_path), proxy_port=None, host_network=False)
