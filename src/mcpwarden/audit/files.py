"""Where a log's files are: the current file, its rotated predecessors and its head file.

A log ``audit.jsonl`` is current; when it rotates it is renamed ``audit.jsonl.<n>``, where n
is the generation that file had (1, 2, 3, ... oldest first), and a new ``audit.jsonl`` begins.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from mcpwarden.audit.head import HEAD_SUFFIX, head_path
from mcpwarden.errors import AuditError

_GENERATION = re.compile(r"\.([0-9]+)$")


@dataclass(frozen=True, slots=True)
class LogFile:
    path: str
    generation: int | None
    """None for the current file."""

    @property
    def name(self) -> str:
        return os.path.basename(self.path)


def rotated_path(log_path: str, generation: int) -> str:
    return f"{log_path}.{generation}"


def rotated_generations(log_path: str) -> list[int]:
    """Generations of the rotated files that exist beside ``log_path``, oldest first."""
    directory = os.path.dirname(log_path) or "."
    prefix = os.path.basename(log_path) + "."
    found = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            found.append(int(name[len(prefix) :]))
    return sorted(found)


def log_family(log_path: str) -> list[LogFile]:
    """The rotated files (oldest first) and then the current file, as far as they exist."""
    files = [LogFile(rotated_path(log_path, g), g) for g in rotated_generations(log_path)]
    if os.path.exists(log_path):
        files.append(LogFile(log_path, None))
    return files


def base_log_path(path: str) -> str:
    """The current log a given path belongs to (a rotated file or head file maps to its log)."""
    if path.endswith(HEAD_SUFFIX):
        return path[: -len(HEAD_SUFFIX)]
    match = _GENERATION.search(path)
    if match:
        base = path[: match.start()]
        if os.path.exists(base) or os.path.exists(head_path(base)):
            return base
    return path


def logs_in(paths: list[str]) -> list[str]:
    """Expand files and directories into the distinct logs they hold, in a stable order."""
    logs: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = set()
            for name in sorted(os.listdir(path)):
                full = os.path.join(path, name)
                if name.endswith(HEAD_SUFFIX) or name.endswith(".jsonl"):
                    found.add(base_log_path(full))
                elif _GENERATION.search(name):
                    base = base_log_path(full)
                    if base != full:
                        found.add(base)
            if not found:
                raise AuditError(f"{path}: no audit log in this directory")
            candidates = sorted(found)
        elif os.path.exists(path) or os.path.exists(head_path(path)):
            candidates = [base_log_path(path)]
        else:
            raise AuditError(f"{path}: no such audit log")
        for log in candidates:
            if log not in logs:
                logs.append(log)
    return logs


RECORD_START = b'{"v":'
"""How every record line the writer writes begins; a torn line is a prefix of a record."""


def could_be_torn_record(line: bytes) -> bool:
    """Whether ``line`` could be what a crash or a short write left of a record."""
    return line[:5] == RECORD_START[: len(line)]


def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines of a file and the bytes after the last newline (a torn record, or b"")."""
    pieces = data.split(b"\n")
    return pieces[:-1], pieces[-1]


def read_file(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}") from exc
