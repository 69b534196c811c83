"""Rotation by size keeps one chain across files; verify follows it from any of the files."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable

import pytest
from audit_helpers import KEY_ENV, load, read_lines, tcall_record

from mcpwarden.audit import AuditLog, AuditOptions, Chain, verify_log
from mcpwarden.audit.files import log_family
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


@pytest.mark.parametrize("leftover", ["missing", "empty"])
def test_rotation_interrupted_by_a_crash_is_finished_by_the_next_writer(
    write_log: WriteLog, keyed: bytes | None, leftover: str
) -> None:
    """Killed after renaming the current file, before (or just after) creating the next one."""
    options = write_log(30, rotate_bytes=4096, keep=100)
    generation = len(log_family(options.path))
    os.rename(options.path, f"{options.path}.{generation}")
    if leftover == "empty":
        open(options.path, "wb").close()
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)  # nothing lost: still intact
    assert report.head == "matches"
    with AuditLog.open(options) as log:
        log.append(tcall_record(99))
    assert load(read_lines(options.path)[0])["event"] == "rotate"
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    assert report.head == "matches" and len(report.files) == generation + 1
