"""Where a log's files are: the current file, its rotated predecessors and its head file.

A log ``audit.jsonl`` is current; when it rotates it is renamed ``audit.jsonl.<n>``, where n
is the generation that file had (1, 2, 3, ... oldest first), and a new ``audit.jsonl`` begins.
"""

from __future__ import annotations

import fcntl
import os
import re
import stat
from dataclasses import dataclass

from mcpwarden.audit.head import HEAD_SIZE, HEAD_SUFFIX, head_path
from mcpwarden.errors import AuditError, ChainBroken

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


def snapshot(log: str) -> tuple[list[tuple[LogFile, bytes]], bytes | None]:
    """The log's files and head as of one moment, so a log being written reads whole.

    Under a shared lock on the head file (writers hold it exclusively for each append, so no
    append is half done), open every file, note the current file's size and read the head.
    After the lock is dropped, rotated files never change and the current file only grows, so
    reading each open file up to the noted size gives a consistent picture. Writers create the
    head file before the log: a log found without its head is looked at once more, in case it
    was being created.
    """
    for attempt in range(2):
        head_fd = open_regular(head_path(log))
        opened: list[tuple[LogFile, int, int]] = []
        try:
            head_raw = None
            if head_fd is not None:
                fcntl.flock(head_fd, fcntl.LOCK_SH)
            try:
                for file in log_family(log):
                    fd = open_regular(file.path)
                    if fd is not None:
                        opened.append((file, fd, os.fstat(fd).st_size))
                if head_fd is not None:
                    head_raw = os.pread(head_fd, HEAD_SIZE, 0)
            finally:
                if head_fd is not None:
                    fcntl.flock(head_fd, fcntl.LOCK_UN)
            if head_fd is None and opened and attempt == 0:
                continue
            return [(file, read_exactly(fd, size, file.path)) for file, fd, size in opened], head_raw
        except OSError as exc:
            raise AuditError(f"cannot read the audit log {log}: {exc.strerror or exc}") from exc
        finally:
            for _file, fd, _size in opened:
                os.close(fd)
            if head_fd is not None:
                os.close(head_fd)
    raise AssertionError("unreachable")


def open_regular(path: str) -> int | None:
    """A read-only descriptor of ``path``, or None if it does not exist. Anything but a regular
    file (a FIFO would block a reader forever, a directory cannot be read) is refused."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        os.close(fd)
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise AuditError(f"{path} is not a regular file; an audit log and its head file are plain files")
    return fd


def read_exactly(fd: int, size: int, path: str) -> bytes:
    chunks = []
    offset = 0
    try:
        while offset < size:  # bounded: each pass advances, or the file shrank (an error)
            chunk = os.pread(fd, min(size - offset, 16 * 1024 * 1024), offset)
            if not chunk:
                raise ChainBroken(f"{path} shrank while being read: it was truncated")
            chunks.append(chunk)
            offset += len(chunk)
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return b"".join(chunks)
