"""Sources for ``mcpwarden scan``: files, directories and stdin turned into located findings.

The engine knows nothing of files; this module walks paths (never following symlinks,
skipping ``.git`` and mcpwarden's own cache), reads small files whole and streams large ones and stdin through
``Engine.stream()`` in chunks (memory stays bounded), and gives each finding a line and
column (1-based; columns in characters for UTF-8 files, in bytes for streamed input).
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mcpwarden.detect.engine import Engine
from mcpwarden.detect.finding import Finding

WHOLE_FILE_LIMIT = 32 * 1024 * 1024
CHUNK = 4 * 1024 * 1024
BINARY_SNIFF = 8192
SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True, slots=True)
class Located:
    """A finding with where it is: the file (or ``-``), 1-based line and column of start and end."""

    source: str
    finding: Finding
    line: int
    column: int
    end_line: int
    end_column: int

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}:{self.column}"


@dataclass(slots=True)
class ScanProblem:
    source: str
    message: str


def _positions(text: str | bytes, offsets: list[int]) -> dict[int, tuple[int, int]]:
    """offset -> (line, column), both 1-based, computed in one ordered pass."""
    newline = "\n" if isinstance(text, str) else b"\n"
    out: dict[int, tuple[int, int]] = {}
    line, line_start, pos = 1, 0, 0
    for offset in sorted(set(offsets)):
        line += text.count(newline, pos, offset)  # type: ignore[arg-type]
        last = text.rfind(newline, 0, offset)  # type: ignore[arg-type]
        line_start = last + 1 if last >= 0 else 0
        out[offset] = (line, offset - line_start + 1)
        pos = offset
    return out


def _locate(source: str, text: str | bytes, found: list[Finding]) -> list[Located]:
    pos = _positions(text, [f.start for f in found] + [f.end for f in found])
    return [Located(source, f, *pos[f.start], *pos[f.end]) for f in found]


class _LineTracker:
    """Line/column of recent absolute byte offsets of a stream, keeping only recent chunks."""

    def __init__(self, keep: int):
        self.keep = keep
        self.chunks: deque[tuple[int, int, bytes]] = deque()  # (start offset, lines before, data)
        self.end = 0
        self.lines = 0

    def add(self, chunk: bytes) -> None:
        self.chunks.append((self.end, self.lines, chunk))
        self.end += len(chunk)
        self.lines += chunk.count(b"\n")
        while self.chunks and self.chunks[0][0] + len(self.chunks[0][2]) < self.end - self.keep:
            self.chunks.popleft()

    def position(self, offset: int) -> tuple[int, int]:
        for start, lines_before, data in reversed(self.chunks):
            if start <= offset:
                rel = offset - start
                line = lines_before + data.count(b"\n", 0, rel) + 1
                last = data.rfind(b"\n", 0, rel)
                if last >= 0:
                    return line, rel - last
                # the line began in an earlier chunk: walk back through them
                column = rel + 1
                for prev_start, _, prev in reversed(self.chunks):
                    if prev_start >= start:
                        continue
                    nl = prev.rfind(b"\n")
                    if nl >= 0:
                        return line, column + len(prev) - nl - 1
                    column += len(prev)
                return line, column
        return 1, offset + 1


def scan_stream(engine: Engine, source: str, stream: BinaryIO) -> list[Located]:
    from mcpwarden.detect.stream import OVERLAP

    scanner = engine.stream()
    tracker = _LineTracker(keep=2 * OVERLAP + CHUNK)
    out: list[Located] = []

    def place(found: list[Finding]) -> None:
        for f in found:
            out.append(Located(source, f, *tracker.position(f.start), *tracker.position(f.end)))

    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            break
        tracker.add(chunk)
        place(scanner.feed(chunk))
    place(scanner.close())
    return out


_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _is_binary(head: bytes) -> bool:
    return b"\x00" in head


def scan_file(engine: Engine, path: Path, display: str, include_binary: bool) -> list[Located] | ScanProblem | None:
    """Located findings, a problem, or None when the file looks binary and was skipped."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return ScanProblem(display, f"cannot open: {exc.strerror or exc}")
    with os.fdopen(fd, "rb") as fh:
        try:
            head = fh.read(BINARY_SNIFF)
        except OSError as exc:
            return ScanProblem(display, f"cannot read: {exc.strerror or exc}")
        utf16 = head[:2] in _UTF16_BOMS  # e.g. a .env saved by Windows tools: NULs, yet text
        if not include_binary and not utf16 and _is_binary(head):
            return None
        size = os.fstat(fh.fileno()).st_size
        if utf16 and size <= WHOLE_FILE_LIMIT:
            try:
                text = (head + fh.read()).decode("utf-16")
            except UnicodeDecodeError:
                pass
            else:
                return _locate(display, text, engine.scan_text(text))
            fh.seek(len(head))
        if size > WHOLE_FILE_LIMIT:
            fh.seek(0)
            return scan_stream(engine, display, fh)
        data = head + fh.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return _locate(display, data, engine.scan_bytes(data))
    return _locate(display, text, engine.scan_text(text))


def _own_cache_dir() -> str | None:
    """mcpwarden's start-up cache (compiled rules), which holds nothing of the user's."""
    from mcpwarden.detect.cache import default_dir

    directory = default_dir()
    return None if directory is None else os.path.realpath(directory)


def _walked(dirpath: str, name: str, own_cache: str | None) -> bool:
    """Whether the walk enters directory ``name`` of ``dirpath``. Only a directory of the
    cache's own name can be the cache (symbolic links are not entered), so no other
    directory of a large tree costs a path resolution."""
    if name in SKIP_DIRS:
        return False
    if own_cache is None or name != os.path.basename(own_cache):
        return True
    return os.path.realpath(os.path.join(dirpath, name)) != own_cache


def iter_files(paths: list[str]) -> Iterator[tuple[Path, str] | ScanProblem]:
    """Regular files under ``paths``, as (path, display name); symlinks are not followed."""
    own_cache = _own_cache_dir()
    for raw in paths:
        root = Path(raw)
        if root.is_symlink():
            yield ScanProblem(raw, "is a symbolic link; not followed")
            continue
        if root.is_file():
            yield root, raw
            continue
        if not root.is_dir():
            yield ScanProblem(raw, "not a regular file or directory" if root.exists() else "no such file or directory")
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames[:] = sorted(d for d in dirnames if _walked(dirpath, d, own_cache))
            for name in sorted(filenames):
                full = Path(dirpath) / name
                if full.is_symlink() or not full.is_file():
                    continue
                yield full, str(full)


@dataclass(slots=True)
class ScanResult:
    located: list[Located]
    problems: list[ScanProblem]
    skipped_binary: list[str]


def scan_paths(engine: Engine, paths: list[str], include_binary: bool = False) -> ScanResult:
    result = ScanResult([], [], [])
    for path in paths:
        if path == "-":
            result.located.extend(scan_stream(engine, "-", sys.stdin.buffer))
            continue
        for item in iter_files([path]):
            if isinstance(item, ScanProblem):
                result.problems.append(item)
                continue
            found = scan_file(engine, item[0], item[1], include_binary)
            if found is None:
                result.skipped_binary.append(item[1])
            elif isinstance(found, ScanProblem):
                result.problems.append(found)
            else:
                result.located.extend(found)
    return result
