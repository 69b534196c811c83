"""Rotation by size keeps one chain across files; verify follows it from any of the files."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import orjson
import pytest
from audit_helpers import KEY_ENV, load, read_lines, tcall_record

from mcpwarden.audit import AuditLog, AuditOptions, Chain, verify_log
from mcpwarden.audit.files import log_family
from mcpwarden.audit.head import HeadEncoder, decode_head
from mcpwarden.errors import ChainBroken

WriteLog = Callable[..., AuditOptions]


def test_rotation_keeps_the_chain_across_files(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(120, rotate_bytes=4096, keep=100)
    files = log_family(options.path)
    assert len(files) > 5
    assert [f.generation for f in files[:-1]] == list(range(1, len(files)))
    chain = Chain(keyed)
    for before, after in itertools.pairwise(files):
        assert os.path.getsize(before.path) <= 4096
        first = load(read_lines(after.path)[0])
        assert first["event"] == "rotate" and first["prev_file"] == before.name
        assert first["prev"] == chain.digest(read_lines(before.path)[-1])
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert (report.first_seq, report.last_seq, report.records) == (0, 120 + len(files) - 2, 120 + len(files) - 1)
    assert len(report.files) == len(files) and report.head == "matches"


def test_keep_prunes_the_oldest_files(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(150, rotate_bytes=4096, keep=3)
    files = log_family(options.path)
    assert len(files) == 4
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert report.first_seq is not None and report.first_seq > 0
    assert any("older files were removed by rotation" in note for note in report.notes)


def test_verify_of_a_rotated_file_follows_the_whole_log(write_log: WriteLog, keyed: bytes | None) -> None:
    from mcpwarden.audit.files import base_log_path, logs_in

    options = write_log(60, rotate_bytes=4096, keep=100)
    rotated = log_family(options.path)[1].path
    assert base_log_path(rotated) == options.path
    assert logs_in([rotated]) == [options.path]
    assert logs_in([os.path.dirname(options.path)]) == [options.path]


def test_removed_middle_file_is_found(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(80, rotate_bytes=4096, keep=100)
    files = log_family(options.path)
    os.unlink(files[2].path)
    with pytest.raises(ChainBroken, match=rf"{files[3].name} line 1 \(seq \d+\): seq \d+\.\.\d+ missing before it"):
        verify_log(options.path, key=keyed, key_env=KEY_ENV)


def test_edit_inside_a_rotated_file_is_found(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(80, rotate_bytes=4096, keep=100)
    target = log_family(options.path)[1]
    lines = read_lines(target.path)
    lines[2] = lines[2].replace(b'"principal":"local"', b'"principal":"mallory"')
    with open(target.path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))
    with pytest.raises(ChainBroken, match=rf"^{target.name} line 3 \(seq \d+\): its hash does not match"):
        verify_log(options.path, key=keyed, key_env=KEY_ENV)


def test_rotate_record_moved_into_the_middle_is_found(write_log: WriteLog, keyed: bytes | None) -> None:
    options = write_log(40, rotate_bytes=4096, keep=100)
    files = log_family(options.path)
    second = read_lines(files[1].path)
    with open(files[1].path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in [second[1], second[0], *second[2:]]))
    with pytest.raises(ChainBroken, match=rf"{files[1].name} line 1 .*must begin with a rotate record"):
        verify_log(options.path, key=keyed, key_env=KEY_ENV)


def interrupt_rotation(options: AuditOptions, key: bytes | None, step: str) -> None:
    """Leave the files as a writer killed at ``step`` of a rotation would."""
    head_file = options.path + ".head"
    with open(head_file, "rb") as handle:
        state = decode_head(handle.read(), head_file)
    chain = Chain(key)
    previous = f"{options.path}.{state.generation}"
    with open(head_file, "wb") as handle:  # step 1: the rotation is announced
        handle.write(HeadEncoder(chain).encode(state.seq, state.hash, 0, state.generation + 1))
    if step == "announced":
        return
    os.rename(options.path, previous)
    if step == "renamed":
        return
    record = {"v": 1, "seq": state.seq + 1, "ts": "2026-11-21T04:00:00.000Z", "alg": chain.algorithm}
    if chain.key_id:
        record["kid"] = chain.key_id
    record.update(pid=1, prev=state.hash, event="rotate", prev_file=os.path.basename(previous))
    line = orjson.dumps(record) + b"\n"
    with open(options.path, "wb") as handle:
        handle.write({"created": b"", "torn": line[:50], "written": line}[step])


@pytest.mark.parametrize("step", ["announced", "renamed", "created", "torn", "written"])
def test_rotation_interrupted_by_a_crash_is_finished_by_the_next_writer(
    write_log: WriteLog, keyed: bytes | None, step: str
) -> None:
    options = write_log(30, rotate_bytes=4096, keep=100)
    generations = len(log_family(options.path))
    interrupt_rotation(options, keyed, step)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)  # nothing lost: still intact
    assert report.head == "matches" or (step == "written" and report.head.startswith("one record behind"))
    with AuditLog.open(options) as log:
        log.append(tcall_record(99))
    first = load(read_lines(options.path)[1 if step == "torn" else 0])
    assert first["event"] == ("recovery" if step == "torn" else "rotate")
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert report.head == "matches" and len(report.files) == generations + 1
    assert load(read_lines(options.path)[-1])["tool"] == "tool0"


def test_live_writer_follows_a_rotation_another_writer_left_half_done(
    write_log: WriteLog, keyed: bytes | None
) -> None:
    options = write_log(30, rotate_bytes=4096, keep=100)
    with AuditLog.open(options) as survivor:
        survivor.append(tcall_record(1))
        interrupt_rotation(options, keyed, "renamed")  # another writer died mid-rotation
        survivor.append(tcall_record(2))
    assert load(read_lines(options.path)[0])["event"] == "rotate"
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert report.head == "matches"
