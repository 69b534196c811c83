"""On-disk cache of the engine's compiled state, so start-up skips TOML parsing, rule
validation and the Vectorscan compile.

Two kinds of entry, each named by a SHA-256 key over everything it depends on:

* ``rules-<key>``: the validated rule table of ``Engine.load`` (key: the contents of every
  rule file, the options that select rules, and the source of the modules that derive rule
  fields);
* ``gate-<key>`` / ``words-<key>``: a serialized Vectorscan database and the list of probed
  rules (key: keywords, the rules each gates, probe regexes, the hyperscan version).

Every key also covers CACHE_FORMAT, the mcpwarden and Python versions. The directory is
``$MCPWARDEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/mcpwarden``, else ``~/.cache/mcpwarden``
(mode 0700); ``MCPWARDEN_CACHE_DIR=off`` turns the cache off. Files are written atomically
(a temporary file renamed into place) with mode 0600, zlib-compressed (so the rule examples
and literals inside do not show up as findings when someone scans their home directory),
and carry a SHA-256 of their payload.
A file that is missing, unreadable, not ours, truncated or corrupt counts as a miss: the
state is rebuilt from the rule files and written again. The cache never decides what is
scanned; it only saves the work of rebuilding the same thing.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import tempfile
import zlib
from collections.abc import Iterable
from pathlib import Path

import mcpwarden

CACHE_FORMAT = 1
CACHE_ENV = "MCPWARDEN_CACHE_DIR"
MAGIC = b"mcpwarden-cache\x00"
MAX_ENTRY_BYTES = 64 * 1024 * 1024
KEEP_PER_KIND = 8
"""Older entries of a kind beyond this many are removed when a new one is written."""

_DERIVING_MODULES = ("rule.py", "ruleset.py", "gitleaks.py", "prefilter.py", "decoders.py", "cache.py")


def default_dir() -> Path | None:
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return None if explicit.lower() in ("off", "0", "none") else Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mcpwarden"


@functools.cache
def _code_digest() -> bytes:
    """Of the modules as imported: once per process."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _DERIVING_MODULES:
        try:
            digest.update(name.encode() + b"\0" + (here / name).read_bytes())
        except OSError:
            digest.update(name.encode() + b"\0missing")
    return digest.digest()


def make_key(parts: Iterable[bytes | str]) -> str:
    """A hex SHA-256 over ``parts`` (length-prefixed, so no two lists collide) and versions."""
    digest = hashlib.sha256()
    fixed = [str(CACHE_FORMAT), mcpwarden.__version__, sys.version, _code_digest()]
    for part in (*fixed, *parts):
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


class Cache:
    """Entries in one directory; every failure reads as a miss and writes are best effort."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"<Cache {self.directory}>"

    def _usable_dir(self, create: bool) -> bool:
        try:
            if create:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            info = os.lstat(self.directory)
        except OSError:
            return False
        # Only a real directory of ours that others cannot write: anyone who can plant an
        # entry could hide rules from the engine.
        return stat.S_ISDIR(info.st_mode) and info.st_uid == os.geteuid() and not info.st_mode & 0o022

    def get(self, kind: str, key: str) -> bytes | None:
        """The payload stored under ``kind``/``key``, or None (missing or not trustworthy)."""
        if not self._usable_dir(create=False):
            return None
        path = self.directory / f"{kind}-{key}"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_size > MAX_ENTRY_BYTES:
                return None
            with os.fdopen(fd, "rb", closefd=False) as handle:
                blob = handle.read(MAX_ENTRY_BYTES + 1)
        except OSError:
            return None
        finally:
            os.close(fd)
        head = len(MAGIC) + 32
        if len(blob) < head or not blob.startswith(MAGIC):
            self._discard(path)
            return None
        packed = blob[head:]
        if hashlib.sha256(packed).digest() != blob[len(MAGIC) : head]:
            self._discard(path)
            return None
        try:
            inflater = zlib.decompressobj()
            payload = inflater.decompress(packed, MAX_ENTRY_BYTES)
            # A payload larger than any ``put`` writes, or bytes after the stream, are not ours.
            if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
                raise zlib.error("entry does not hold one whole stream of at most MAX_ENTRY_BYTES")
        except zlib.error:
            self._discard(path)
            return None
        return payload

    def put(self, kind: str, key: str, payload: bytes) -> None:
        if len(payload) > MAX_ENTRY_BYTES or not self._usable_dir(create=True):
            return
        packed = zlib.compress(payload, 1)
        blob = MAGIC + hashlib.sha256(packed).digest() + packed
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{kind}-", dir=self.directory)  # mode 0600
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(blob)
            os.replace(tmp, self.directory / f"{kind}-{key}")
        except OSError:
            self._discard(Path(tmp))
            return
        self._prune(kind)

    def _discard(self, path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass

    def _prune(self, kind: str) -> None:
        try:
            entries = sorted(self.directory.glob(f"{kind}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
        except OSError:
            return
        for old in entries[KEEP_PER_KIND:]:
            self._discard(old)


def default_cache() -> Cache | None:
    directory = default_dir()
    return None if directory is None else Cache(directory)
