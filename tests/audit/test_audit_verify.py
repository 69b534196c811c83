"""Verification: every kind of tampering is found and the first bad record is named; what a
crash leaves is accepted and reported as such."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import orjson
import pytest
from audit_helpers import KEY_ENV, TEST_KEY, load, read_lines, tcall_record, write_lines

from mcpwarden.audit import AuditLog, AuditOptions, Chain, verify_log
from mcpwarden.errors import AuditError, ChainBroken

WriteLog = Callable[..., AuditOptions]


def verify(options: AuditOptions, key: bytes | None, **kwargs: object) -> object:
    return verify_log(options.path, key=key, key_env=KEY_ENV, **kwargs)  # type: ignore[arg-type]


def broken(options: AuditOptions, key: bytes | None, pattern: str) -> str:
    with pytest.raises(ChainBroken) as info:
        verify_log(options.path, key=key, key_env=KEY_ENV)
    message = str(info.value)
    assert re.search(pattern, message), message
    return message


def test_intact_log_verifies(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.first_seq, report.last_seq, report.incomplete_at_end) == (10, 0, 9, 0)
    assert report.head == "matches"
    assert ("HMAC-SHA-256" in report.chain) == (keyed is not None)
    assert "OK, 10 records verified (seq 0..9)" in report.summary()


def test_edited_field_names_the_edited_record(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    lines[3] = lines[3].replace(b'"verdict":"pass"', b'"verdict":"deny"')
    assert b'"verdict":"deny"' in lines[3]
    write_lines(options.path, lines)
    broken(options, keyed, r"^audit\.jsonl line 4 \(seq 3\): its hash does not match .* it was edited")


def test_a_foreign_format_line_does_not_hide_an_earlier_edit(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(8)
    lines = read_lines(options.path)
    write_lines(options.path, [*lines, b'{"v":2,"seq":8}'])
    foreign = r"audit\.jsonl line 9: record format v2 is not one this mcpwarden reads"
    with pytest.raises(AuditError, match=foreign) as info:
        verify(options, keyed)
    assert not isinstance(info.value, ChainBroken)
    lines[3] = lines[3].replace(b'"event":"call"', b'"event":"cal1"')
    write_lines(options.path, [*lines, b'{"v":2,"seq":8}'])
    broken(options, keyed, r"^audit\.jsonl line 4 \(seq 3\): its hash does not match")


def test_edited_last_record_is_caught_by_the_head(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    lines[9] = lines[9].replace(b'"tool":"tool0"', b'"tool":"toolX"')
    write_lines(options.path, lines)
    broken(options, keyed, r"^audit\.jsonl line 10 \(seq 9\): does not match the head file")


def test_deleted_record(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    del lines[4]
    write_lines(options.path, lines)
    broken(options, keyed, r"line 5 \(seq 5\): seq 4 missing before it: 1 record\(s\) deleted")


def test_deleted_first_record(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    write_lines(options.path, read_lines(options.path)[1:])
    broken(options, keyed, r"line 1 \(seq 1\): the chain does not start here")


def test_inserted_forged_record(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    forged = load(lines[5])
    forged["tool"] = "forged"
    forged["prev"] = Chain(keyed).digest(lines[5])  # a forger's best guess at the link
    lines.insert(6, orjson.dumps(forged))
    write_lines(options.path, lines)
    broken(options, keyed, r"line 7 \(seq 5\): repeats the seq of the record before it: a record was inserted")


def test_inserted_record_renumbered_breaks_the_link(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    records = [load(line) for line in lines]
    forged = dict(records[5], tool="forged", seq=6)
    forged["prev"] = Chain(keyed).digest(lines[5])
    rest = [dict(r, seq=int(r["seq"]) + 1) for r in records[6:]]  # type: ignore[call-overload]
    new_lines = lines[:6] + [orjson.dumps(forged)] + [orjson.dumps(r) for r in rest]
    write_lines(options.path, new_lines)
    # The forged record links to line 6 (for the unkeyed chain), so the break shows at the next one.
    broken(options, keyed, r"line 7 \(seq 6\): its hash does not match")


def test_swapped_records(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    lines[3], lines[4] = lines[4], lines[3]
    write_lines(options.path, lines)
    broken(options, keyed, r"line 4 \(seq 4\): expected seq 3, which is at line 5: records were reordered")


def test_truncated_tail(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    write_lines(options.path, read_lines(options.path)[:8])
    broken(options, keyed, r"line 8 \(seq 7\): the log ends here, but its head file records seq 9: 2 record")


def test_truncated_mid_line_is_not_mistaken_for_a_crash(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    lines = read_lines(options.path)
    write_lines(options.path, lines[:9], trailing=lines[9][:40])
    broken(options, keyed, r"line 9 \(seq 8\): the log ends here, but its head file records seq 9: 1 record")


def test_emptied_log(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    write_lines(options.path, [])
    broken(options, keyed, r"holds no record, but its head file records seq 9")


def test_deleted_log_file(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(3)
    os.unlink(options.path)
    broken(options, keyed, r"the log file is missing but its head file exists")


def test_edited_head_file(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    head = options.path + ".head"
    with open(head, "rb") as handle:
        raw = handle.read()
    with open(head, "wb") as handle:
        handle.write(raw.replace(b'"seq":9', b'"seq":12'))
    broken(options, keyed, r"HMAC does not match|head file records seq 12: 3 record")


def test_garbage_head_file(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(3)
    with open(options.path + ".head", "wb") as handle:
        handle.write(b"not json")
    broken(options, keyed, r"head file .* is unreadable")


def test_missing_head_file_fails_unless_asked(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(5)
    os.unlink(options.path + ".head")
    broken(options, keyed, r"head file audit\.jsonl\.head is missing")
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV, check_head=False)
    assert report.records == 5 and report.head == "not checked"


def test_garbage_line_in_the_middle(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(6)
    lines = read_lines(options.path)
    lines[2] = lines[2][:30]
    write_lines(options.path, lines)
    broken(options, keyed, r"line 3: not a valid audit record")


def test_keyed_truncation_with_head_rolled_back_is_caught(write_log: WriteLog, monkeypatch: pytest.MonkeyPatch) -> None:
    """An attacker without the key cuts the last 3 records and rewrites the head to the new end,
    using the digest the first removed record disclosed as its ``prev``."""
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    options = write_log(10)
    lines = read_lines(options.path)
    disclosed = load(lines[7])["prev"]
    write_lines(options.path, lines[:7])
    head = options.path + ".head"
    with open(head, "rb") as handle:
        obj = orjson.loads(handle.read())
    obj.update(seq=6, hash=disclosed, end=sum(len(line) + 1 for line in lines[:7]))
    with open(head, "wb") as handle:
        handle.write(orjson.dumps(obj).ljust(319) + b"\n")
    broken(options, TEST_KEY.encode(), r"head file .*: its HMAC does not match: it was edited")


def test_unkeyed_truncation_with_head_rolled_back_is_not_caught(write_log: WriteLog) -> None:
    """The documented limit of an unkeyed chain: whoever can write both files can rewrite them."""
    options = write_log(10)
    lines = read_lines(options.path)
    write_lines(options.path, lines[:7])
    head = options.path + ".head"
    with open(head, "rb") as handle:
        obj = orjson.loads(handle.read())
    obj.update(seq=6, hash=load(lines[7])["prev"], end=sum(len(line) + 1 for line in lines[:7]))
    with open(head, "wb") as handle:
        handle.write(orjson.dumps(obj).ljust(319) + b"\n")
    assert verify_log(options.path).records == 7


def test_keyed_log_needs_the_key(write_log: WriteLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    options = write_log(4)
    with pytest.raises(AuditError, match=r"keyed with HMAC-SHA-256 .* set \$MCPWARDEN_TEST_AUDIT_KEY") as info:
        verify_log(options.path, key=None, key_env=KEY_ENV)
    assert not isinstance(info.value, ChainBroken)
    with pytest.raises(ChainBroken, match="wrong key, or the records were forged"):
        verify_log(options.path, key=b"a-wrong-key-0123456789", key_env=KEY_ENV)
    assert verify_log(options.path, key=TEST_KEY.encode(), key_env=KEY_ENV).records == 4


def test_keyed_records_cannot_be_forged_by_recomputing_sha256(
    write_log: WriteLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    options = write_log(6)
    lines = read_lines(options.path)
    records = [load(line) for line in lines]
    records[2]["verdict"] = "pass"
    records[2]["tool"] = "rewritten"
    new_lines = [*lines[:2], orjson.dumps(records[2])]
    for record in records[3:]:
        record["prev"] = Chain(None).digest(new_lines[-1])
        new_lines.append(orjson.dumps(record))
    write_lines(options.path, new_lines)
    broken(options, TEST_KEY.encode(), r"line 3 \(seq 2\): its hash does not match")


def test_unkeyed_log_with_a_key_set_is_refused(write_log: WriteLog) -> None:
    options = write_log(3)
    with pytest.raises(ChainBroken, match="the log is not keyed, but a key is set"):
        verify_log(options.path, key=TEST_KEY.encode(), key_env=KEY_ENV)


def test_record_spliced_from_another_chain(write_log: WriteLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    options = write_log(5)
    lines = read_lines(options.path)
    spliced = load(lines[2])
    spliced["alg"] = "sha256"
    del spliced["kid"]
    lines[2] = orjson.dumps(spliced)
    write_lines(options.path, lines)
    broken(options, TEST_KEY.encode(), r"line 3 \(seq 2\): chained with 'sha256'")


# -- what a crash leaves ---------------------------------------------------------------------


def test_torn_last_line_is_reported_not_failed(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    with open(options.path, "ab") as handle:
        handle.write(b'{"v":1,"seq":10,"ts":"2026-11-21T04:1')
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.incomplete_at_end, report.head) == (10, 1, "matches")
    assert "1 incomplete record at the end, likely a crash; 10 records verified" in report.summary()


def test_trailing_bytes_no_writer_wrote_are_not_taken_for_a_crash(write_log: WriteLog, keyed: bytes | None) -> None:
    """Only a prefix of a record is what a crash leaves; anything else was appended by
    something else (and the writer refuses it too)."""
    options = write_log(4)
    with open(options.path, "ab") as handle:
        handle.write(b"any bytes at all")
    broken(options, keyed, r"^audit\.jsonl line 5: not a valid audit record \(bytes after the last record")
    with pytest.raises(AuditError, match="that no writer wrote"):
        AuditLog.open(options)


def test_writer_recovers_a_torn_line_and_verify_accepts_it(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    torn = b'{"v":1,"seq":10,"ts":"2026-11-21T04:1'
    with open(options.path, "ab") as handle:
        handle.write(torn)
    with AuditLog.open(options) as log:
        assert log.last_seq == 10  # the recovery record took seq 10
        log.append(tcall_record(11))
    lines = read_lines(options.path)
    assert lines[10] == torn
    recovery = load(lines[11])
    assert recovery["event"] == "recovery" and recovery["torn_line"] == 11 and recovery["torn_bytes"] == len(torn)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.last_seq, report.incomplete_at_end) == (12, 11, 0)
    assert any("line 11: a record torn by a crash or a full disk, recovered by seq 10" in note for note in report.notes)


def test_recovery_record_cannot_hide_a_deleted_record(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(10)
    with open(options.path, "ab") as handle:
        handle.write(b'{"v":1,"seq":10')
    with AuditLog.open(options) as log:
        log.append(tcall_record(11))
    lines = read_lines(options.path)
    lines[10] = b'{"v":1,"seq":10,"different":true'  # replace the torn bytes the recovery names
    write_lines(options.path, lines)
    broken(options, keyed, r"line 11: not a valid audit record")


def test_head_one_record_behind_is_accepted_two_is_not(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(8)
    head = options.path + ".head"
    with open(head, "rb") as handle:
        stale = handle.read()
    with AuditLog.open(options) as log:
        log.append(tcall_record(8))
    with open(head, "wb") as handle:
        handle.write(stale)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert report.records == 9 and report.head.startswith("one record behind")
    with open(options.path, "ab") as handle:  # a record appended by something other than the writer
        handle.write(read_lines(options.path)[-1] + b"\n")
    broken(options, keyed, r"line 10 \(seq 8\): repeats the seq")


def test_writer_killed_after_writing_a_recovery_record_is_adopted(write_log: WriteLog, keyed: bytes | None) -> None:
    """A writer that recovered a torn line died before moving the head past its recovery
    record: the next writer adopts that record (the log stays writable) and verify agrees."""
    options = write_log(6)
    head = options.path + ".head"
    torn = b'{"v":1,"seq":6,"ts":"2026-11-21T04:1'
    with open(options.path, "ab") as handle:
        handle.write(torn)
    with open(head, "rb") as handle:
        stale = handle.read()
    AuditLog.open(options).close()  # writes the recovery record (seq 6) and moves the head
    with open(head, "wb") as handle:  # as if killed between the recovery's line and its head
        handle.write(stale)
    assert verify_log(options.path, key=keyed, key_env=KEY_ENV).head.startswith("one record behind")
    with AuditLog.open(options) as log:
        assert log.last_seq == 6
        log.append(tcall_record(7))
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.last_seq, report.head) == (8, 7, "matches")
    assert [load(line)["event"] for line in read_lines(options.path)[7:]] == ["recovery", "call"]


def test_record_after_torn_lines_that_does_not_name_them_is_refused(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(6)
    head = options.path + ".head"
    with open(options.path, "ab") as handle:
        handle.write(b'{"v":1,"seq":6,"ts":"2026-11-21T04:1')
    with open(head, "rb") as handle:
        stale = handle.read()
    AuditLog.open(options).close()
    with open(head, "wb") as handle:
        handle.write(stale)
    lines = read_lines(options.path)
    lines[6] = lines[6][:-1] + b"2"  # the torn bytes no longer match what the recovery names
    write_lines(options.path, lines)
    with pytest.raises(AuditError, match="a record follows torn lines"):
        AuditLog.open(options)


def test_recovery_that_was_itself_torn_is_recovered(write_log: WriteLog, keyed: bytes | None) -> None:
    """A crash (or a full disk) hit again while the recovery record was being written."""
    options = write_log(5)
    with open(options.path, "ab") as handle:
        handle.write(b'{"v":1,"seq":5,"ts":"20')
        handle.write(b'\n{"v":1,"seq":5,"ts":"2026-11-21T04:00:00.000Z","alg":"sh')
    with AuditLog.open(options) as log:
        log.append(tcall_record(6))
    lines = read_lines(options.path)
    recovery = load(lines[7])
    assert (recovery["event"], recovery["torn_line"], recovery["torn_count"]) == ("recovery", 6, 2)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.last_seq, report.incomplete_at_end) == (7, 6, 0)
    assert any("lines 6-7: a record torn" in note for note in report.notes)
    lines[5] = lines[5] + b"x"  # the torn span no longer matches what the recovery names
    write_lines(options.path, lines)
    broken(options, keyed, r"line 6: not a valid audit record")


def test_record_missing_only_its_newline_is_completed(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(4)
    head = options.path + ".head"
    with open(head, "rb") as handle:
        before = handle.read()
    with AuditLog.open(options) as log:
        log.append(tcall_record(4))
    lines = read_lines(options.path)
    # The write stopped just before the final newline, so the head was never updated.
    with open(options.path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines[:-1]) + lines[-1])
    with open(head, "wb") as handle:
        handle.write(before)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.incomplete_at_end, report.head) == (4, 1, "matches")
    with AuditLog.open(options) as log:
        assert log.last_seq == 4  # adopted, not replaced by a recovery record
        log.append(tcall_record(5))
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.records, report.incomplete_at_end, report.head) == (6, 0, "matches")
    assert not any("torn" in note for note in report.notes)


def test_loose_permissions_are_noted(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(2)
    assert not verify_log(options.path, key=keyed, key_env=KEY_ENV).notes
    os.chmod(options.path, 0o644)
    notes = verify_log(options.path, key=keyed, key_env=KEY_ENV).notes
    assert notes == ["audit.jsonl has mode 0644: other users can read or change it (expected 0600)"]
