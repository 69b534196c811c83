"""Verification of a log's chain, across its rotated files and against its head file.

Reads every line of every file of the log (oldest first) and checks, for each record, that
its ``seq`` is one more than the previous record's and that its ``prev`` is the digest of the
previous record's line. The last record must match the head file. The first failure raises
ChainBroken naming the file, line and seq of the first bad record.

Accepted without failing, because a crash produces them: one incomplete line at the very end
(a record torn by ``kill -9``); a torn line in the middle that the next writer named in a
``recovery`` record; and a head file one record behind the log (a crash between the two writes).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcpwarden.audit.chain import FORMAT_VERSION, GENESIS, Chain, sha256_hex
from mcpwarden.audit.files import LogFile, could_be_torn_record, snapshot, split_lines
from mcpwarden.audit.head import HeadState, decode_head, head_path
from mcpwarden.errors import AuditError, ChainBroken


@dataclass(slots=True)
class VerifyReport:
    log: str
    files: list[str] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    chain: str = "SHA-256 (unkeyed)"
    incomplete_at_end: int = 0
    head: str = "not checked"
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        span = f" (seq {self.first_seq}..{self.last_seq})" if self.records else ""
        files = f"{len(self.files)} file" + ("s" if len(self.files) != 1 else "")
        lines = []
        if self.incomplete_at_end:
            lines.append(f"{self.log}: 1 incomplete record at the end, likely a crash; {self.records} records verified")
        lines.append(
            f"{self.log}: OK, {self.records} records verified{span} in {files}, {self.chain}; head {self.head}"
        )
        lines.extend(f"{self.log}: note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass(slots=True)
class _Record:
    file: LogFile
    line: int
    seq: int
    prev: str
    event: Any
    obj: dict[str, Any]
    digest: str = ""

    def where(self) -> str:
        return f"{self.file.name} line {self.line} (seq {self.seq})"


@dataclass(slots=True)
class _Foreign:
    """A line that is a record of a format version this mcpwarden does not read."""

    version: Any


class _Verifier:
    def __init__(self, log: str, key: bytes | None, key_env: str) -> None:
        self.log = log
        self.key = key or None
        self.key_env = key_env
        self.chain: Chain | None = None
        self.report = VerifyReport(log=log)
        self.last: _Record | None = None
        self.before_last: _Record | None = None

    # -- records ---------------------------------------------------------------------

    def parse(self, file: LogFile, number: int, line: bytes) -> _Record | _Foreign | None:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(obj, dict) or "v" not in obj:
            return None
        if obj["v"] != FORMAT_VERSION:
            return _Foreign(obj["v"])
        seq, prev = obj.get("seq"), obj.get("prev")
        if not isinstance(seq, int) or isinstance(seq, bool) or not isinstance(prev, str):
            return None
        return _Record(file, number, seq, prev, obj.get("event"), obj)

    def establish_chain(self, record: _Record) -> Chain:
        alg, kid = record.obj.get("alg"), record.obj.get("kid")
        if alg == "hmac-sha256":
            if self.key is None:
                raise AuditError(
                    f"{self.log}: the records are keyed with HMAC-SHA-256 (key id {kid}); "
                    f"set ${self.key_env} to that key to verify them"
                )
            chain = Chain(self.key)
            if chain.key_id != kid:
                raise ChainBroken(
                    f"{record.where()}: keyed with key id {kid}, but the key in ${self.key_env} has id "
                    f"{chain.key_id}: wrong key, or the records were forged with another key"
                )
        elif alg == "sha256":
            if self.key is not None:
                raise ChainBroken(
                    f"{record.where()}: the log is not keyed, but a key is set in ${self.key_env}; an unkeyed chain "
                    f"can be rewritten by anyone who can write the file. Unset ${self.key_env} to verify it unkeyed"
                )
            chain = Chain(None)
        else:
            raise ChainBroken(f"{record.where()}: unknown chain algorithm {alg!r}")
        self.report.chain = chain.describe()
        return chain

    def check_algorithm(self, record: _Record, chain: Chain) -> None:
        if record.obj.get("alg") != chain.algorithm or record.obj.get("kid") != chain.key_id:
            raise ChainBroken(
                f"{record.where()}: chained with {record.obj.get('alg')!r} key id {record.obj.get('kid')!r}, "
                f"but the chain uses {chain.describe()}: forged or spliced from another log"
            )

    # -- files -----------------------------------------------------------------------

    def verify_file(self, file: LogFile, data: bytes, is_first_file: bool, is_last_file: bool) -> None:
        lines, torn_tail = split_lines(data)
        found = [self.parse(file, number, line) for number, line in enumerate(lines, 1)]
        # A record of another format version is refused where the chain reaches it, so that
        # a break before it is still the one reported (appending such a line hides nothing).
        parsed = [None if isinstance(record, _Foreign) else record for record in found]
        pending_torn: list[int] = []  # numbers of consecutive lines that are not records
        first_in_file = True
        for index, (line, record) in enumerate(zip(lines, parsed, strict=True)):
            number = index + 1
            foreign = found[index]
            if isinstance(foreign, _Foreign):
                raise AuditError(
                    f"{file.path} line {number}: record format v{foreign.version!r} is not one this mcpwarden reads"
                )
            if record is None:
                pending_torn.append(number)
                continue
            if self.chain is None:
                self.chain = self.establish_chain(record)
            self.check_algorithm(record, self.chain)
            if pending_torn:
                self.check_recovery(record, pending_torn, b"\n".join(lines[n - 1] for n in pending_torn))
                pending_torn = []
            elif record.event == "recovery":
                raise ChainBroken(
                    f"{record.where()}: a recovery record, but line {record.obj.get('torn_line')} is not a torn record"
                )
            self.check_position(record, parsed, index, first_in_file, is_first_file)
            record.digest = self.chain.digest(line)
            self.before_last, self.last = self.last, record
            if self.report.first_seq is None:
                self.report.first_seq = record.seq
            self.report.records += 1
            first_in_file = False
        if pending_torn:
            raise ChainBroken(f"{file.name} line {pending_torn[0]}: not a valid audit record")
        if torn_tail:
            if not could_be_torn_record(torn_tail):
                raise ChainBroken(
                    f"{file.name} line {len(lines) + 1}: not a valid audit record (bytes after the last record that "
                    "no writer wrote: appended by something else)"
                )
            if not is_last_file:
                raise ChainBroken(f"{file.name} line {len(lines) + 1}: a rotated file ends in an incomplete record")
            self.report.incomplete_at_end = 1
        self.report.files.append(file.path)

    def check_recovery(self, record: _Record, torn_numbers: list[int], torn_span: bytes) -> None:
        """Lines that are not records are accepted only when the next record is a recovery that
        names exactly them: first line number, count, length and SHA-256 of the bytes."""
        obj = record.obj
        if not (
            record.event == "recovery"
            and obj.get("torn_line") == torn_numbers[0]
            and obj.get("torn_count", 1) == len(torn_numbers)
            and obj.get("torn_bytes") == len(torn_span)
            and obj.get("torn_sha256") == sha256_hex(torn_span)
        ):
            raise ChainBroken(f"{record.file.name} line {torn_numbers[0]}: not a valid audit record")
        lines = f"line {torn_numbers[0]}" if len(torn_numbers) == 1 else f"lines {torn_numbers[0]}-{torn_numbers[-1]}"
        self.report.notes.append(
            f"{record.file.name} {lines}: a record torn by a crash or a full disk, recovered by seq {record.seq}"
        )

    def check_position(
        self, record: _Record, parsed: list[_Record | None], index: int, first_in_file: bool, is_first_file: bool
    ) -> None:
        last = self.last
        if last is None:
            if record.seq == 0:
                if record.prev != GENESIS:
                    raise ChainBroken(f"{record.where()}: the first record of a chain must have prev {GENESIS[:8]}...")
            elif first_in_file and is_first_file and record.event in ("rotate", "recovery"):
                self.report.notes.append(
                    f"the chain starts at seq {record.seq} in {record.file.name}: older files were removed by rotation "
                    "(keep) and cannot be checked"
                )
            else:
                raise ChainBroken(
                    f"{record.where()}: the chain does not start here; the records before it were removed"
                )
            return
        if first_in_file and record.event not in ("rotate", "recovery"):
            raise ChainBroken(
                f"{record.where()}: a rotated-to file must begin with a rotate record; records are missing"
            )
        if not first_in_file and record.event == "rotate":
            raise ChainBroken(f"{record.where()}: a rotate record in the middle of a file; it was inserted")
        expected = last.seq + 1
        if record.seq != expected:
            raise ChainBroken(self.explain_seq(record, parsed, index, expected))
        if record.prev != last.digest:
            raise ChainBroken(
                f"{last.where()}: its hash does not match the prev stored in the next record, "
                f"{record.where()}: it was edited, or the next record was forged or replaced"
            )

    def explain_seq(self, record: _Record, parsed: list[_Record | None], index: int, expected: int) -> str:
        if record.seq == expected - 1:
            return f"{record.where()}: repeats the seq of the record before it: a record was inserted or duplicated"
        later = next((r for r in parsed[index + 1 :] if r is not None and r.seq == expected), None)
        if later is not None:
            return (
                f"{record.where()}: expected seq {expected}, which is at line {later.line}: records were reordered"
            )
        if record.seq > expected:
            missing = record.seq - expected
            span = f"seq {expected}" if missing == 1 else f"seq {expected}..{record.seq - 1}"
            return f"{record.where()}: {span} missing before it: {missing} record(s) deleted"
        return f"{record.where()}: expected seq {expected}: a record was inserted or records were reordered"

    # -- head ------------------------------------------------------------------------

    def verify_head(self, raw: bytes | None) -> None:
        path = head_path(self.log)
        if raw is None:
            raise ChainBroken(
                f"{self.log}: its head file {os.path.basename(path)} is missing, so records removed from the end "
                "cannot be detected (use --no-head to check the chain alone, e.g. on a copied log)"
            )
        try:
            state = decode_head(raw, path)
        except AuditError as exc:
            raise ChainBroken(str(exc)) from exc
        last = self.last
        if last is None:
            if state.empty:
                self.report.head = "matches (empty log)"
                return
            raise ChainBroken(f"{self.log}: holds no record, but its head file records seq {state.seq}: truncated")
        chain = self.chain
        assert chain is not None  # set with the first record
        self.check_head_mac(state, chain, path)
        if state.seq == last.seq and state.hash == last.digest:
            self.report.head = "matches"
        elif state.seq == last.seq - 1 and self.before_last is not None and state.hash == self.before_last.digest:
            self.report.head = "one record behind (a crash between writing a record and its anchor)"
        elif state.seq > last.seq:
            removed = state.seq - last.seq
            torn = " (the incomplete line is the start of one of them)" if self.report.incomplete_at_end else ""
            raise ChainBroken(
                f"{last.where()}: the log ends here, but its head file records seq {state.seq}: "
                f"{removed} record(s) were removed from the end{torn}"
            )
        else:
            raise ChainBroken(
                f"{last.where()}: does not match the head file (seq {state.seq}): the last record was edited, "
                "records were appended without the writer, or the head file was edited"
            )

    def check_head_mac(self, state: HeadState, chain: Chain, path: str) -> None:
        if state.algorithm != chain.algorithm or state.key_id != chain.key_id:
            raise ChainBroken(
                f"head file {path}: names chain {state.algorithm!r} key id {state.key_id!r}, not the log's"
            )
        if chain.keyed and state.mac != chain.head_mac(state.seq, state.hash, state.generation):
            raise ChainBroken(f"head file {path}: its HMAC does not match: it was edited")


def verify_log(
    log: str, key: bytes | None = None, key_env: str = "MCPWARDEN_AUDIT_KEY", check_head: bool = True
) -> VerifyReport:
    """Verify one log (its rotated files too). Raises ChainBroken naming the first bad record."""
    contents, head_raw = snapshot(log)
    if not contents:
        if head_raw is not None:
            raise ChainBroken(f"{log}: the log file is missing but its head file exists: deleted")
        raise AuditError(f"{log}: no such audit log")
    verifier = _Verifier(log, key, key_env)
    for position, (file, data) in enumerate(contents):
        verifier.verify_file(file, data, position == 0, position == len(contents) - 1)
    report = verifier.report
    report.notes.extend(_loose_permissions([file.path for file, _data in contents] + [head_path(log)]))
    if verifier.last is not None:
        report.last_seq = verifier.last.seq
    if check_head:
        verifier.verify_head(head_raw)
    return report


def _loose_permissions(paths: list[str]) -> list[str]:
    notes = []
    for path in paths:
        try:
            mode = os.stat(path).st_mode & 0o777
        except FileNotFoundError:
            continue
        if mode & 0o077:
            name = os.path.basename(path)
            notes.append(f"{name} has mode {mode:04o}: other users can read or change it (expected 0600)")
    if paths:
        directory = os.path.dirname(paths[0]) or "."
        try:
            mode = os.stat(directory).st_mode
        except OSError:
            return notes
        if mode & 0o022 and not mode & stat.S_ISVTX:
            notes.append(
                f"the directory {directory} has mode {mode & 0o7777:04o}: other users can delete, rename or "
                "replace the log's files (expected 0700)"
            )
    return notes
