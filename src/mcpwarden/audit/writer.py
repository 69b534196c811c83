"""The audit log writer: append-only JSONL, each record chained to the one before.

One ``append`` is: take the head file's lock, check that nobody else moved the chain (one
``pread`` of the head, one ``lseek`` of the log), write the whole line with one ``os.write``
on an ``O_APPEND`` descriptor, then rewrite the head with one ``pwrite``. A ``kill -9`` can
therefore tear at most the line being written; the next writer terminates such a line and
appends a ``recovery`` record that names it, so the chain stays verifiable.

Several processes may append to one log: the lock is an ``flock`` on the head file, and each
writer re-reads the head under it. All writers of one log must use the same key (or none).
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import threading
import time
from typing import Any

import orjson

from mcpwarden.audit.chain import FORMAT_VERSION, GENESIS, Chain, sha256_hex
from mcpwarden.audit.fields import check_record_keys
from mcpwarden.audit.files import could_be_torn_record, rotated_generations, rotated_path
from mcpwarden.audit.head import HEAD_SIZE, HeadEncoder, HeadState, decode_head, head_path
from mcpwarden.audit.options import AuditOptions
from mcpwarden.errors import AuditError

log = logging.getLogger("mcpwarden.audit")

MAX_RECORD_BYTES = 1024 * 1024
"""A record is key names and digests; one this large means a payload slipped in."""
MIN_KEY_BYTES = 16
MAX_TAIL_BYTES = 4 * MAX_RECORD_BYTES
"""A crash leaves at most one record and a few torn lines past the head's anchor."""
MAX_TORN_LINES = 1000
_OPEN_FLAGS = os.O_CLOEXEC | os.O_NOFOLLOW
_DUMPS_OPTIONS = orjson.OPT_APPEND_NEWLINE


class AuditLog:
    """An open audit log. Thread-safe; several processes may share one log file."""

    def __init__(self, options: AuditOptions, chain: Chain, head_fd: int) -> None:
        self.path = options.path
        self._options = options
        self._chain = chain
        self._head_path = head_path(self.path)
        self._head_fd: int | None = head_fd
        self._log_fd: int | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._head_raw: bytes | None = None
        """The head as this writer last read or wrote it; None forces a re-read."""
        self._seq = -1
        self._hash = GENESIS
        self._end = 0
        self._generation = 0
        self._ts_second = -1
        self._ts_prefix = b""
        self._head_encoder = HeadEncoder(chain)
        # The chain fields are formatted as bytes and the caller's record, serialised on its own,
        # is spliced in after them: cheaper than building and serialising one merged dict.
        kid = f'"kid":"{chain.key_id}",' if chain.key_id else ""
        self._line_template = (
            f'{{"v":{FORMAT_VERSION},"seq":%d,"ts":"%s","alg":"{chain.algorithm}",{kid}"pid":{self._pid},"prev":"%s"'
        ).encode("ascii")

    # -- construction -----------------------------------------------------------------

    @classmethod
    def open(cls, options: AuditOptions) -> AuditLog:
        """Open (or create) the log at ``options.path``; a disabled log if ``options.enabled`` is false."""
        if not options.enabled:
            return cls.disabled()
        chain = Chain(_key_from_env(options.hmac_key_env))
        directory = os.path.dirname(options.path) or "."
        _make_private_dir(directory)
        _warn_if_shared_dir(directory)
        head_file = head_path(options.path)
        try:
            head_fd = os.open(head_file, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot open the audit head file {head_file}: {exc.strerror or exc}") from exc
        log = cls(options, chain, head_fd)
        try:
            _make_private_file(head_fd, head_file)
            with log._lock:
                _lock_file(head_fd, head_file)
                try:
                    log._refresh(os.pread(head_fd, HEAD_SIZE, 0))
                finally:
                    fcntl.flock(head_fd, fcntl.LOCK_UN)
        except BaseException:
            log.close()
            raise
        return log

    @staticmethod
    def disabled() -> AuditLog:
        """A log that records nothing, for ``audit.enabled: false``."""
        return DisabledAuditLog()

    # -- public interface ---------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return True

    @property
    def last_seq(self) -> int:
        """The seq of the last record this writer knows of (-1 for an empty chain)."""
        return self._seq

    def append(self, record: dict[str, Any]) -> None:
        """Add ``v``, ``seq``, ``ts``, ``alg``, ``kid``, ``pid`` and ``prev`` to ``record`` and write it as one line."""
        check_record_keys(record)
        with self._lock:
            if self._head_fd is None:
                raise AuditError(f"audit log {self.path} is closed")
            head_fd = self._head_fd
            _lock_file(head_fd, self._head_path)
            try:
                raw = os.pread(head_fd, HEAD_SIZE, 0)
                if raw != self._head_raw:
                    self._refresh(raw)
                elif os.lseek(self._log_fd, 0, os.SEEK_END) != self._end:  # type: ignore[arg-type]
                    self._reconcile_tail()
                self._write(record)
            except OSError as exc:
                self._head_raw = None
                raise AuditError(f"cannot append to the audit log {self.path}: {exc.strerror or exc}") from exc
            except BaseException:
                self._head_raw = None  # state may be half-updated: re-read it from disk next time
                raise
            finally:
                fcntl.flock(head_fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            for fd in (self._log_fd, self._head_fd):
                if fd is not None:
                    os.close(fd)  # closing the head fd also drops our flock
            self._log_fd = self._head_fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AuditLog(path={self.path!r}, chain={self._chain.describe()!r}, seq={self._seq})"

    # -- internals (all called with the thread lock and the file lock held) -----------------

    def _refresh(self, raw: bytes) -> None:
        """Adopt the head another writer (or an earlier run) left, then check the log's tail."""
        state = decode_head(raw, self._head_path)
        if not state.empty:
            if state.algorithm != self._chain.algorithm or state.key_id != self._chain.key_id:
                raise AuditError(
                    f"audit log {self.path} was written with {_describe(state)}, but this writer uses "
                    f"{self._chain.describe()} (from ${self._options.hmac_key_env}). Restore the key it was "
                    "written with, or move the log and its .head file aside to start a new chain"
                )
            if state.mac != self._chain.head_mac(state.seq, state.hash, state.generation):
                raise AuditError(
                    f"audit head file {self._head_path} fails its HMAC check: it was edited. "
                    "Run `mcpwarden log verify` and move the log aside"
                )
        self._seq, self._hash, self._end = state.seq, state.hash, state.end
        self._head_raw = raw
        if state.end == 0 and state.generation > 1 and not state.empty:
            # A rotation was announced and not finished (its writer died, or failed): finish it.
            self._generation = state.generation
            self._complete_rotation()
            return
        if state.generation != self._generation or self._log_fd is None:
            self._open_current(state.generation)
        if os.lseek(self._log_fd, 0, os.SEEK_END) != self._end:  # type: ignore[arg-type]
            self._reconcile_tail()

    def _open_current(self, generation: int) -> None:
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
        try:
            self._log_fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _OPEN_FLAGS, 0o600)
        except OSError as exc:
            raise AuditError(f"cannot open the audit log {self.path}: {exc.strerror or exc}") from exc
        _make_private_file(self._log_fd, self.path)
        self._generation = generation

    def _reconcile_tail(self) -> None:
        """The log does not end where the head says. Adopt the one record a writer killed before
        updating the head left behind; then name any torn lines (a crash or a short write, maybe
        repeated while the disk stayed full) in one recovery record."""
        fd = self._log_fd
        size = os.lseek(fd, 0, os.SEEK_END)  # type: ignore[arg-type]
        if size < self._end:
            raise AuditError(
                f"audit log {self.path} is {size} bytes, but its head file says the last record (seq {self._seq}) "
                f"ends at byte {self._end}: records were removed. Run `mcpwarden log verify`, then move the log aside"
            )
        if size - self._end > MAX_TAIL_BYTES:
            raise AuditError(
                f"audit log {self.path} has {size - self._end} bytes past the last record its head file anchors: "
                "it was appended to by something else, or the head file was replaced"
            )
        pieces = os.pread(fd, size - self._end, self._end).split(b"\n")  # type: ignore[arg-type]
        complete, torn = pieces[:-1], pieces[-1]
        if torn and _parses_as_record(torn):  # whole record written, only its newline missing
            self._write_raw(b"\n")
            complete, torn = [*complete, torn], b""
        records = [line for line in complete if _parses_as_record(line)]
        if len(records) > 1:
            raise AuditError(
                f"audit log {self.path} has {len(records)} records past the last one its head file anchors "
                f"(seq {self._seq}); a crash leaves at most one. The head file was reset or the log appended to"
            )
        torn_lines = [line for line in complete if line not in records] + ([torn] if torn else [])
        if not all(could_be_torn_record(line) for line in torn_lines):
            raise AuditError(
                f"audit log {self.path} holds bytes past the last record its head file anchors that no writer "
                "wrote: it is not an mcpwarden audit log, or it was appended to by something else"
            )
        if records:
            record = records[0]
            first = next(i for i, line in enumerate(complete) if line is record)
            if first:
                # Only a recovery record naming exactly these torn lines may follow them: its
                # writer was killed before it could move the head past it.
                covered = complete[:first]
                if not _recovers(record, covered):
                    raise AuditError(f"audit log {self.path}: a record follows torn lines past the head's anchor")
                self._end += sum(len(line) + 1 for line in covered)
            del complete[: first + 1]
            self._adopt(record)
        if complete or torn:
            self._recover_torn(complete, torn)

    def _adopt(self, line: bytes) -> None:
        obj = orjson.loads(line)
        if not (
            obj.get("seq") == self._seq + 1
            and obj.get("prev") == self._hash
            and obj.get("alg") == self._chain.algorithm
            and obj.get("kid") == self._chain.key_id
        ):
            raise AuditError(
                f"audit log {self.path} at byte {self._end}: the record past the head's anchor does not continue "
                "the chain"
            )
        self._seq, self._hash = self._seq + 1, self._chain.digest(line)
        self._end += len(line) + 1
        self._write_head()

    def _recover_torn(self, terminated: list[bytes], torn: bytes) -> None:
        lines = [*terminated, torn] if torn else terminated
        if len(lines) > MAX_TORN_LINES:
            raise AuditError(f"audit log {self.path}: {len(lines)} torn lines past the head's anchor; refusing")
        span = b"\n".join(lines)
        before = os.pread(self._log_fd, self._end, 0) if self._end else b""  # type: ignore[arg-type]
        recovery = {
            "event": "recovery",
            "torn_line": before.count(b"\n") + 1,
            "torn_count": len(lines),
            "torn_bytes": len(span),
            "torn_sha256": sha256_hex(span),
            "reason": "the previous write stopped in the middle of a record (crash or disk full)",
        }
        # The newline that ends a torn line goes out in the same write as the recovery record, so
        # a crash or short write here only adds one more torn line for the next recovery to name.
        if torn:
            self._end += len(span)
            self._write(recovery, allow_rotate=False, prefix=b"\n")
        else:  # every torn line is already terminated
            self._end += len(span) + 1
            self._write(recovery, allow_rotate=False)

    def _timestamp(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._ts_second:
            self._ts_second = second
            self._ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode("ascii")
        return b"%s.%03dZ" % (self._ts_prefix, int((now - second) * 1000))

    def _encode(self, record: dict[str, Any]) -> bytes:
        try:
            body = orjson.dumps(record, option=_DUMPS_OPTIONS)
        except orjson.JSONEncodeError as exc:
            raise AuditError(f"audit record refused: {exc}") from exc
        if body[:1] != b"{":
            raise AuditError(f"audit record refused: a record is a JSON object, not {type(record).__name__}")
        chain_fields = self._line_template % (self._seq + 1, self._timestamp(), self._hash.encode("ascii"))
        line = chain_fields + (b"}\n" if body == b"{}\n" else b"," + body[1:])
        if len(line) > MAX_RECORD_BYTES:
            raise AuditError(f"audit record refused: {len(line)} bytes is more than {MAX_RECORD_BYTES}")
        return line

    def _write(self, record: dict[str, Any], allow_rotate: bool = True, prefix: bytes = b"") -> None:
        line = self._encode(record)
        if allow_rotate and self._end > 0 and self._end + len(line) > self._options.rotate_bytes:
            self._rotate()
            line = self._encode(record)
        self._write_raw(prefix + line if prefix else line)
        self._seq += 1
        self._hash = self._chain.digest(memoryview(line)[:-1])
        self._end += len(prefix) + len(line)
        self._write_head()

    def _write_raw(self, data: bytes) -> None:
        try:
            written = os.write(self._log_fd, data)  # type: ignore[arg-type]
            if self._options.fsync:
                os.fsync(self._log_fd)  # type: ignore[arg-type]
        except OSError as exc:
            raise AuditError(f"cannot write the audit log {self.path}: {exc.strerror or exc}") from exc
        if written != len(data):
            # The next append finds the torn line and records its recovery.
            raise AuditError(f"short write to the audit log {self.path} ({written} of {len(data)} bytes; disk full?)")

    def _write_head(self) -> None:
        raw = self._head_encoder.encode(self._seq, self._hash, self._end, self._generation)
        try:
            os.pwrite(self._head_fd, raw, 0)  # type: ignore[arg-type]
            if self._options.fsync:
                os.fsync(self._head_fd)  # type: ignore[arg-type]
        except OSError as exc:
            raise AuditError(f"cannot write the audit head file {self._head_path}: {exc.strerror or exc}") from exc
        self._head_raw = raw

    def _rotate(self) -> None:
        """Rotation in steps that each survive a crash: announce it in the head (next generation,
        end 0), rename the current file, start the next file with a ``rotate`` record that carries
        the chain on, update the head. Whoever next sees the announcement finishes the rest; a
        writer holding the renamed file notices because the head changed."""
        target = rotated_path(self.path, self._generation)
        if os.path.lexists(target):
            raise AuditError(f"cannot rotate the audit log: {target} already exists")
        self._generation += 1
        self._end = 0
        self._write_head()
        try:
            self._complete_rotation()
        except BaseException:
            self._head_raw = None  # the next append re-reads the head and retries
            raise

    def _complete_rotation(self) -> None:
        previous = rotated_path(self.path, self._generation - 1)
        if not os.path.lexists(previous):
            try:
                os.rename(self.path, previous)
            except OSError as exc:
                raise AuditError(f"cannot rotate the audit log {self.path}: {exc.strerror or exc}") from exc
        self._open_current(self._generation)
        if os.lseek(self._log_fd, 0, os.SEEK_END) == 0:  # type: ignore[arg-type]
            self._write({"event": "rotate", "prev_file": os.path.basename(previous)}, allow_rotate=False)
        else:  # the rotate record (or part of it) was written before the crash
            self._reconcile_tail()
        for generation in rotated_generations(self.path)[: -self._options.keep]:
            try:
                os.unlink(rotated_path(self.path, generation))
            except FileNotFoundError:
                pass


class DisabledAuditLog(AuditLog):
    """Records nothing. Same interface as AuditLog."""

    def __init__(self) -> None:
        self.path = ""

    @property
    def enabled(self) -> bool:
        return False

    @property
    def last_seq(self) -> int:
        return -1

    def append(self, record: dict[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return "AuditLog.disabled()"


def _lock_file(fd: int, where: str) -> None:
    """Take the exclusive flock on the head file that serialises every writer of the log."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError as exc:
        raise AuditError(f"cannot lock the audit head file {where}: {exc.strerror or exc}") from exc


def _parses_as_record(line: bytes) -> bool:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "v" in obj


def _recovers(line: bytes, torn_lines: list[bytes]) -> bool:
    """Whether ``line`` is the recovery record that names exactly ``torn_lines``."""
    span = b"\n".join(torn_lines)
    obj = orjson.loads(line)
    return (
        obj.get("event") == "recovery"
        and obj.get("torn_count") == len(torn_lines)
        and obj.get("torn_bytes") == len(span)
        and obj.get("torn_sha256") == sha256_hex(span)
    )


def _describe(state: HeadState) -> str:
    if state.algorithm == "hmac-sha256":
        return f"HMAC-SHA-256 (key id {state.key_id})"
    return "SHA-256 (unkeyed)"


def _key_from_env(name: str) -> bytes | None:
    key = os.environb.get(name.encode())
    if not key:
        return None
    if len(key) < MIN_KEY_BYTES:
        raise AuditError(
            f"the audit HMAC key in ${name} is {len(key)} bytes; use at least {MIN_KEY_BYTES} "
            "(e.g. `openssl rand -hex 32`)"
        )
    return key


def _make_private_dir(directory: str) -> None:
    if os.path.isdir(directory):
        return
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    except OSError as exc:
        raise AuditError(f"cannot create the audit directory {directory}: {exc.strerror or exc}") from exc


def _make_private_file(fd: int, path: str) -> None:
    """Refuse anything but a regular file; tighten an existing one to 0600 (a new one is created 0600)."""
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise AuditError(f"{path} is not a regular file; an audit log and its head file are plain files")
        if mode & 0o077:
            os.fchmod(fd, 0o600)
    except OSError as exc:
        raise AuditError(f"cannot restrict the audit file's permissions to 0600: {exc.strerror or exc}") from exc


def _warn_if_shared_dir(directory: str) -> None:
    """An existing directory is left as it is (it may be the user's own, or /tmp), but one
    that others may write to without the sticky bit lets them delete or replace the log."""
    try:
        mode = os.stat(directory).st_mode
    except OSError:
        return
    if mode & 0o022 and not mode & stat.S_ISVTX:
        log.warning(
            "the audit log's directory %s has mode %04o: other users can delete, rename or replace the log. "
            "Use a directory only you can write to (chmod 700)",
            directory,
            mode & 0o7777,
        )
