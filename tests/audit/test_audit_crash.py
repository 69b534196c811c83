"""A writer killed with SIGKILL in the middle of its work: at most the record being written is
lost, verify says so, and the next writer carries the chain on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from audit_helpers import KEY_ENV, load, read_lines

from mcpwarden.audit import AuditLog, AuditOptions, verify_log

CHILD = textwrap.dedent(
    """
    import sys
    from mcpwarden.audit import AuditLog, AuditOptions
    path, rotate, pad = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    options = AuditOptions(path=path, rotate_bytes=rotate, keep=1000, hmac_key_env="MCPWARDEN_TEST_AUDIT_KEY")
    log = AuditLog.open(options)
    for i in range(100000):
        # large records make the kernel copy many pages per write, so a kill can land inside one
        log.append({"event": "call", "i": i, "pad": "x" * (pad + i % 4096)})
        sys.stdout.write(f"{log.last_seq}\\n")
        sys.stdout.flush()
    """
)


def crash_once(path: str, rotate_bytes: int, pad: int, acks_before_kill: int) -> int:
    """Start a writer, let it acknowledge some records, SIGKILL it by pid; the last acknowledged seq."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, str(rotate_bytes), str(pad)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    last_ack = -1
    deadline = time.monotonic() + 30
    try:
        for _ in range(acks_before_kill):
            line = proc.stdout.readline()
            assert line, f"writer exited early with {proc.poll()}"
            last_ack = int(line)
            assert time.monotonic() < deadline, "writer too slow"
        time.sleep(random.uniform(0, 0.003))
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        for line in proc.stdout.read().splitlines():  # acknowledgements already in the pipe
            last_ack = int(line)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        proc.stdout.close()
    return last_ack


@pytest.mark.parametrize(
    ("rotate_bytes", "pad"),
    [(64 * 1024 * 1024, 300_000), (1024 * 1024, 150_000), (64 * 1024 * 1024, 200)],
    ids=["large-records", "large-records-rotating", "small-records"],
)
def test_kill_9_loses_at_most_the_record_being_written(
    tmp_path: Path, keyed: bytes | None, rotate_bytes: int, pad: int
) -> None:
    path = str(tmp_path / "audit.jsonl")
    rng = random.Random(1234)
    torn_seen = 0
    for _round in range(6):
        last_ack = crash_once(path, rotate_bytes, pad, acks_before_kill=rng.randint(2, 12))
        report = verify_log(path, key=keyed, key_env=KEY_ENV)
        assert report.incomplete_at_end <= 1
        assert report.last_seq is not None and report.last_seq >= last_ack, "an acknowledged record was lost"
        # The append in progress may have written its record, and a rotate record before it.
        assert report.last_seq <= last_ack + 2, "more records than the append in progress wrote"
        assert report.head == "matches" or report.head.startswith("one record behind")
        torn_seen += report.incomplete_at_end
        if report.incomplete_at_end:
            assert "1 incomplete record at the end, likely a crash" in report.summary()
        # The next writer carries on: torn line terminated and named, chain intact.
        options = AuditOptions(path=path, rotate_bytes=rotate_bytes, keep=1000, hmac_key_env=KEY_ENV)
        with AuditLog.open(options) as log:
            log.append({"event": "upstream", "action": "restart"})
            after = log.last_seq
        report = verify_log(path, key=keyed, key_env=KEY_ENV)
        assert report.incomplete_at_end == 0 and report.last_seq == after and report.head == "matches"
    recoveries = [
        load(line)
        for file in report.files
        for line in read_lines(file)
        if line.startswith(b"{") and b'"event":"recovery"' in line
    ]
    assert len(recoveries) == sum("torn by a crash" in note for note in report.notes)
    print(f"torn records seen at the end after kill -9: {torn_seen} of 6; recoveries: {len(recoveries)}")
