"""Verifying a log while another process writes to it (and rotates it) gives no false alarm."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from audit_helpers import KEY_ENV

from mcpwarden.audit import verify_log
from mcpwarden.audit.query import read_records

WRITER = textwrap.dedent(
    """
    import sys
    import time
    from mcpwarden.audit import AuditLog, AuditOptions
    options = AuditOptions(path=sys.argv[1], rotate_bytes=32 * 1024, keep=1000, hmac_key_env="MCPWARDEN_TEST_AUDIT_KEY")
    with AuditLog.open(options) as log:
        log.append({"event": "upstream", "action": "start"})
        print("ready", flush=True)
        for i in range(2_000_000):
            log.append({"event": "call", "i": i, "tool": "read_file", "arg_keys": ["path"]})
            if i % 10 == 0:
                time.sleep(0.001)  # a busy gateway's pace, not a flood that outgrows each verify
    """
)


@pytest.mark.parametrize("keyed", ["sha256", "hmac-sha256"], indirect=True)
def test_verify_while_another_process_appends(tmp_path: Path, keyed: bytes | None) -> None:
    path = str(tmp_path / "audit.jsonl")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        seen = []
        deadline = time.monotonic() + 20
        for _ in range(15):
            report = verify_log(path, key=keyed, key_env=KEY_ENV)
            assert report.head == "matches" and report.incomplete_at_end == 0
            seen.append(report.last_seq)
            assert proc.poll() is None, "the writer stopped early"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert seen == sorted(seen) and seen[-1] > seen[0], "the log did not grow while being verified"
        assert len(report.files) > 1, "no rotation happened while verifying"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.mark.parametrize("keyed", ["sha256"], indirect=True)
def test_reading_records_while_another_process_rotates_misses_none(tmp_path: Path, keyed: bytes | None) -> None:
    """`log show` reads a log as of one moment, like verify: a rotation meanwhile neither fails
    the read nor drops records."""
    path = str(tmp_path / "audit.jsonl")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, path], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        deadline = time.monotonic() + 20
        files_seen = set()
        for _ in range(150):  # the old reader failed about 1 read in 20
            seqs = [record["seq"] for record in read_records(path)]
            assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "records missing from a read"
            files_seen.add(len(os.listdir(tmp_path)))
            assert proc.poll() is None, "the writer stopped early"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert max(files_seen) > 3, "no rotation happened while reading"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()

