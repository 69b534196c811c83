"""The writer: record shape, permissions, refusals, reopening, keys, several writers."""

from __future__ import annotations

import itertools
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from audit_helpers import KEY_ENV, TEST_KEY, load, read_lines, tcall_record

from mcpwarden.audit import AuditLog, AuditOptions, Chain, verify_log
from mcpwarden.audit.chain import GENESIS
from mcpwarden.errors import AuditError

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_append_adds_chain_fields_and_links_records(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        for i in range(3):
            log.append(tcall_record(i))
        assert log.last_seq == 2
    lines = read_lines(options.path)
    records = [load(line) for line in lines]
    assert [r["seq"] for r in records] == [0, 1, 2]
    assert all(r["v"] == 1 and r["alg"] == "sha256" and r["pid"] == os.getpid() for r in records)
    assert all(TS.match(str(r["ts"])) for r in records)
    assert records[0]["prev"] == GENESIS
    chain = Chain(None)
    assert records[1]["prev"] == chain.digest(lines[0])
    assert records[2]["prev"] == chain.digest(lines[1])
    assert records[2]["tool"] == "tool2" and records[2]["arg_keys"] == ["path"]
    assert "kid" not in records[0]


def test_empty_record_and_key_order(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        log.append({})
        log.append({"event": "warning", "message": "x"})
    first, second = (load(line) for line in read_lines(options.path))
    assert list(first) == ["v", "seq", "ts", "alg", "pid", "prev"]
    assert list(second)[:6] == ["v", "seq", "ts", "alg", "pid", "prev"]
    assert second["event"] == "warning"
    assert verify_log(options.path).records == 2


def test_files_are_private(tmp_path: Path) -> None:
    options = AuditOptions(path=str(tmp_path / "new" / "dir" / "audit.jsonl"))
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
    assert stat.S_IMODE(os.stat(tmp_path / "new" / "dir").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(options.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(options.path + ".head").st_mode) == 0o600


def test_existing_loose_permissions_are_tightened(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
    os.chmod(options.path, 0o644)
    os.chmod(options.path + ".head", 0o666)
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
    assert stat.S_IMODE(os.stat(options.path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(options.path + ".head").st_mode) == 0o600


def test_symlinked_log_is_refused(tmp_path: Path, options: AuditOptions) -> None:
    os.makedirs(os.path.dirname(options.path))
    target = tmp_path / "elsewhere"
    target.write_bytes(b"")
    os.symlink(target, options.path)
    with pytest.raises(AuditError, match="cannot open the audit log"):
        AuditLog.open(options)
    assert target.read_bytes() == b""


def test_disabled_log_writes_nothing(tmp_path: Path) -> None:
    options = AuditOptions(enabled=False, path=str(tmp_path / "off" / "audit.jsonl"))
    log = AuditLog.open(options)
    log.append({"event": "call", "arguments": {"would": "be refused by a real log"}})
    log.close()
    assert not log.enabled
    assert not (tmp_path / "off").exists()
    assert not AuditLog.disabled().enabled


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"seq": 5}, "set by the audit writer"),
        ({"prev": "0" * 64}, "set by the audit writer"),
        ({"arguments": {"path": "/etc/passwd"}}, "'arguments' would hold a raw payload"),
        ({"params": {"name": "x"}}, "'params' would hold a raw payload"),
        ({"result": "file contents"}, "'result' would hold a raw payload"),
        ({"token": "ghp_notarealtoken"}, "'token' would hold a raw payload"),
        ({"authorization": "Bearer abc"}, "'authorization' would hold"),
        ({"Authorization": "Bearer sk-live-123"}, "'Authorization' would hold"),
        ({"API_KEY": "passwd-like"}, "'API_KEY' would hold"),
        ({"x": 1, "x-api-key": "Bearer k"}, "'x-api-key' would hold"),
        ({"Seq": 5}, "set by the audit writer"),
        ({"args_sha256": "not a digest"}, "'args_sha256' must hold a lowercase SHA-256"),
        ({"result_sha256": "A" * 64}, "'result_sha256' must hold"),
        ({"when": object()}, "audit record refused"),
    ],
)
def test_records_that_could_leak_or_break_the_chain_are_refused(
    options: AuditOptions, record: dict[str, object], message: str
) -> None:
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
        with pytest.raises(AuditError, match=message):
            log.append(record)
        log.append({"event": "call"})
    assert verify_log(options.path).records == 2
    with open(options.path, "rb") as handle:
        data = handle.read()
    assert b"passwd" not in data and b"ghp_" not in data and b"Bearer" not in data


def test_harmless_values_under_payload_names_are_accepted(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        log.append({"event": "call", "result": None, "token": "a" * 64, "content": 3, "args_sha256": None})
    assert verify_log(options.path).records == 1


def test_oversized_record_is_refused(options: AuditOptions) -> None:
    with AuditLog.open(options) as log, pytest.raises(AuditError, match="bytes is more than"):
        log.append({"event": "warning", "message": "x" * (2 * 1024 * 1024)})


def test_reopen_continues_the_chain(options: AuditOptions) -> None:
    for round_ in range(3):
        with AuditLog.open(options) as log:
            for i in range(4):
                log.append(tcall_record(i, round=round_))
    report = verify_log(options.path)
    assert (report.records, report.first_seq, report.last_seq) == (12, 0, 11)
    assert report.head == "matches"


def test_closed_log_refuses_appends(options: AuditOptions) -> None:
    log = AuditLog.open(options)
    log.close()
    log.close()
    with pytest.raises(AuditError, match="is closed"):
        log.append({"event": "call"})


def test_keyed_chain_records_algorithm_and_key_id(options: AuditOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
        log.append({"event": "call"})
        assert TEST_KEY not in repr(log)
    lines = read_lines(options.path)
    second = load(lines[1])
    chain = Chain(TEST_KEY.encode())
    assert second["alg"] == "hmac-sha256" and second["kid"] == chain.key_id
    assert second["prev"] == chain.digest(lines[0])
    assert second["prev"] != Chain(None).digest(lines[0])
    for path in (options.path, options.path + ".head"):
        with open(path, "rb") as handle:
            assert TEST_KEY.encode() not in handle.read()


def test_short_key_is_refused(options: AuditOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(AuditError, match="is 5 bytes; use at least 16") as info:
        AuditLog.open(options)
    assert "short" not in str(info.value).replace("is 5 bytes", "")


def test_reopening_with_another_key_is_refused(options: AuditOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
    monkeypatch.setenv(KEY_ENV, "another-key-0123456789abcdef")
    with pytest.raises(AuditError, match="was written with HMAC-SHA-256"):
        AuditLog.open(options)
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(AuditError, match=r"this writer uses SHA-256 \(unkeyed\)"):
        AuditLog.open(options)


def test_edited_keyed_head_is_refused_by_the_writer(options: AuditOptions, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, TEST_KEY)
    with AuditLog.open(options) as log:
        for i in range(3):
            log.append(tcall_record(i))
    head = options.path + ".head"
    with open(head, "rb") as handle:
        raw = handle.read()
    with open(head, "r+b") as handle:
        handle.write(raw.replace(b'"seq":2', b'"seq":1'))
    with pytest.raises(AuditError, match="fails its HMAC check"):
        AuditLog.open(options)


def test_truncated_log_is_refused_by_the_writer(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        for i in range(5):
            log.append(tcall_record(i))
    lines = read_lines(options.path)
    with open(options.path, "wb") as handle:
        handle.write(b"".join(line + b"\n" for line in lines[:3]))
    with pytest.raises(AuditError, match="records were removed"):
        AuditLog.open(options)


def test_writer_adopts_one_record_the_head_missed(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        log.append(tcall_record(0))
    head = options.path + ".head"
    with open(head, "rb") as handle:
        stale = handle.read()
    with AuditLog.open(options) as log:
        log.append(tcall_record(1))
    with open(head, "wb") as handle:  # as if killed between the record's write and the head's
        handle.write(stale)
    with AuditLog.open(options) as log:
        assert log.last_seq == 1
        log.append(tcall_record(2))
    report = verify_log(options.path)
    assert (report.records, report.head) == (3, "matches")


def test_writer_refuses_records_past_the_anchor(options: AuditOptions) -> None:
    with AuditLog.open(options) as log:
        log.append(tcall_record(0))
    head = options.path + ".head"
    with open(head, "rb") as handle:
        stale = handle.read()
    with AuditLog.open(options) as log:
        log.append(tcall_record(1))
        log.append(tcall_record(2))
    with open(head, "wb") as handle:
        handle.write(stale)
    with pytest.raises(AuditError, match="2 records past the last one its head file anchors"):
        AuditLog.open(options)


def test_two_writers_in_one_process_share_the_chain(options: AuditOptions) -> None:
    first, second = AuditLog.open(options), AuditLog.open(options)
    try:
        for i in range(50):
            (first if i % 3 else second).append(tcall_record(i))
    finally:
        first.close()
        second.close()
    report = verify_log(options.path)
    assert (report.records, report.last_seq) == (50, 49)


WRITER_SCRIPT = textwrap.dedent(
    """
    import sys
    import time
    from mcpwarden.audit import AuditLog, AuditOptions
    path, count, rotate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    options = AuditOptions(path=path, rotate_bytes=rotate, keep=1000, hmac_key_env="MCPWARDEN_TEST_AUDIT_KEY")
    with AuditLog.open(options) as log:
        print("ready", flush=True)
        sys.stdin.readline()  # start together: the parent releases both writers at once
        for i in range(count):
            log.append({"event": "call", "writer": sys.argv[4], "i": i, "pad": "x" * 200})
            if i % 100 == 99:
                time.sleep(0.001)  # a pause now and then, so that neither runs all its appends alone
    """
)


@pytest.mark.parametrize("rotate_bytes", [64 * 1024 * 1024, 16 * 1024], ids=["one-file", "rotating"])
def test_two_processes_append_to_one_log(
    options: AuditOptions, keyed: bytes | None, rotate_bytes: int
) -> None:
    count = 3000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER_SCRIPT, options.path, str(count), str(rotate_bytes), name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for name in ("a", "b")
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        for proc in procs:
            assert proc.wait(timeout=60) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
    report = verify_log(options.path, key=keyed, key_env=KEY_ENV)
    rotations = len(report.files) - 1
    assert (report.records, report.first_seq, report.last_seq) == (2 * count + rotations, 0, 2 * count + rotations - 1)
    assert report.head == "matches"
    if rotate_bytes < 1024 * 1024:
        assert rotations > 10
    seen: dict[str, list[int]] = {"a": [], "b": []}
    order = []
    for file in report.files:
        for line in read_lines(file):
            record = load(line)
            if record.get("event") == "call":
                seen[str(record["writer"])].append(int(record["i"]))  # type: ignore[call-overload]
                order.append(record["writer"])
    assert seen == {"a": list(range(count)), "b": list(range(count))}
    switches = sum(1 for before, after in itertools.pairwise(order) if before != after)
    assert switches > 10, "the two writers did not run at the same time; the test proves nothing"


def test_existing_file_that_is_not_an_audit_log_is_refused(options: AuditOptions) -> None:
    os.makedirs(os.path.dirname(options.path))
    with open(options.path, "wb") as handle:
        handle.write(b"some other file\nthat happens to be here\n")
    with pytest.raises(AuditError, match="is not an mcpwarden audit log"):
        AuditLog.open(options)
    with open(options.path, "rb") as handle:
        assert handle.read() == b"some other file\nthat happens to be here\n"


def test_threads_share_one_writer(options: AuditOptions) -> None:
    import threading

    log = AuditLog.open(options)
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            for i in range(500):
                log.append(tcall_record(i, thread=name))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    log.close()
    assert not errors and not any(thread.is_alive() for thread in threads)
    report = verify_log(options.path)
    assert (report.records, report.last_seq) == (2000, 1999)


def test_a_head_or_log_that_is_not_a_regular_file_is_refused_not_hung(tmp_path: Path) -> None:
    options = AuditOptions(path=str(tmp_path / "logs" / "audit.jsonl"))
    os.makedirs(tmp_path / "logs", mode=0o700)
    os.mkfifo(options.path + ".head")
    with pytest.raises(AuditError, match=r"audit\.jsonl\.head is not a regular file"):
        AuditLog.open(options)
    with pytest.raises(AuditError, match=r"audit\.jsonl\.head is not a regular file"):
        verify_log(options.path)  # opening a FIFO for reading would block forever
    os.unlink(options.path + ".head")
    with AuditLog.open(options) as log:
        log.append({"event": "call"})
    os.mkdir(options.path + ".1")
    with pytest.raises(AuditError, match=r"audit\.jsonl\.1 is not a regular file"):
        verify_log(options.path)


def test_a_directory_others_may_write_to_is_reported(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    options = AuditOptions(path=str(shared / "audit.jsonl"))
    with caplog.at_level("WARNING", logger="mcpwarden.audit"), AuditLog.open(options) as log:
        log.append({"event": "call"})
    assert "other users can delete, rename or replace the log" in caplog.text
    assert oct(os.stat(shared).st_mode & 0o777) == "0o777"  # an existing directory is not changed
    notes = verify_log(options.path).notes
    assert any("has mode 0777: other users can delete, rename or replace" in note for note in notes)
    os.chmod(shared, 0o1777)  # sticky, like /tmp: others cannot remove our files
    assert not any("directory" in note for note in verify_log(options.path).notes)

