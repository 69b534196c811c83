"""Reading files that may be hostile: symlink loops, FIFOs, huge files, odd encodings, deep
trees. Nothing here blocks or follows a loop; every walk is bounded in depth and count."""

from __future__ import annotations

import errno
import os
import stat
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mcpwarden.auditor import jsonc
from mcpwarden.auditor.model import ConfigFile

MAX_CONFIG_BYTES = 32 * 1024 * 1024  # ~/.claude.json grows with project history
MAX_SMALL_BYTES = 1024 * 1024  # skills, env files, scripts
MAX_WALK_ENTRIES = 20_000


class Unreadable(Exception):
    """The file exists but cannot be used; the message says why (never its content)."""


def _decode(raw: bytes) -> str:
    if raw.startswith(b"\xff\xfe") or raw.startswith(b"\xfe\xff"):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise Unreadable(f"not valid UTF-16 text (byte {exc.start})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unreadable(f"not UTF-8 text (byte {exc.start})") from None


def read_text(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """Text of a regular file. Raises FileNotFoundError if absent, Unreadable otherwise."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Unreadable("symlink loop") from None
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise FileNotFoundError(str(path)) from None
        raise Unreadable(f"cannot stat: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise Unreadable("not a regular file")
    if st.st_size > limit:
        raise Unreadable(f"{st.st_size} bytes, over the {limit}-byte limit; not read")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Unreadable(f"cannot open: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    if len(raw) > limit:
        raise Unreadable(f"over the {limit}-byte limit; not read")
    return _decode(raw)


def exists(path: Path) -> bool:
    """True if something is at ``path``, including a broken link or a loop (those get a finding)."""
    try:
        os.lstat(path)
        return True
    except OSError:
        return False


def load_config(client: str, scope: str, path: Path, kind: str, project: Path | None = None) -> ConfigFile | None:
    """Read and parse one config file; None if absent. A bad file comes back with ``error`` set."""
    config = ConfigFile(client=client, scope=scope, path=path, kind=kind, project=project)
    if not exists(path):
        return None
    try:
        config.text = read_text(path)
    except FileNotFoundError:
        config.error = "dangling symlink"
        return config
    except Unreadable as exc:
        config.error = str(exc)
        return config
    config.data, config.error = parse_text(config.text, kind)
    return config


def parse_text(text: str, kind: str) -> tuple[Any, str | None]:
    try:
        if kind == "json":
            return jsonc.loads(text, comments=False), None
        if kind == "jsonc":
            return jsonc.loads(text, comments=True), None
        if kind == "toml":
            return tomllib.loads(text), None
    except jsonc.JsoncError as exc:
        return None, f"not valid {kind.upper()}: {exc}"
    except tomllib.TOMLDecodeError as exc:
        return None, f"not valid TOML: {exc}"
    except RecursionError:
        return None, f"not valid {kind.upper()}: nested too deeply"
    return None, None


def walk_files(root: Path, names: set[str], max_depth: int) -> Iterator[Path]:
    """Files named one of ``names`` under ``root``, without following directory symlinks,
    at most ``max_depth`` levels down and ``MAX_WALK_ENTRIES`` entries in all."""
    seen = 0
    stack: list[tuple[Path, int]] = [(root, 0)]
    while stack:
        directory, depth = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in sorted(entries, key=lambda e: e.name):
            seen += 1
            if seen > MAX_WALK_ENTRIES:
                return
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if depth < max_depth and entry.name not in (".git", "node_modules", "__pycache__", ".venv"):
                    stack.append((Path(entry.path), depth + 1))
            elif entry.name in names:
                yield Path(entry.path)


def subdirs(root: Path, limit: int = 1000) -> list[Path]:
    """Direct subdirectories (a symlinked directory counts, a loop does not)."""
    out: list[Path] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries[:limit]:
        try:
            if entry.is_dir():
                out.append(Path(entry.path))
        except OSError:
            continue
    return out
