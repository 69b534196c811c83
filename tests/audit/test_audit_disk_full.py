"""A full disk: real short writes (RLIMIT_FSIZE in a child process) fail loudly, and once there
is room again the next writer names the torn bytes and the chain verifies."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from audit_helpers import KEY_ENV, load, read_lines

from mcpwarden.audit import AuditLog, AuditOptions, verify_log

CHILD = textwrap.dedent(
    """
    import os, resource, signal, sys
    from mcpwarden.audit import AuditLog, AuditOptions
    from mcpwarden.errors import AuditError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    options = AuditOptions(path=sys.argv[1], hmac_key_env="MCPWARDEN_TEST_AUDIT_KEY")
    log = AuditLog.open(options)
    for i in range(5):
        log.append({"event": "call", "i": i, "pad": "x" * 3000})
    limit = os.path.getsize(options.path) + 4500
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))
    failures = []
    for i in range(5, 12):
        try:
            log.append({"event": "call", "i": i, "pad": "x" * 3000})
        except AuditError as exc:
            failures.append(str(exc))
    if sys.argv[2] == "room-again":  # space comes back while the same writer runs
        resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        log.append({"event": "call", "i": 50})
    log.close()
    print(len(failures), failures[0] if failures else "", sep="\\n")
    """
)


def test_disk_full_then_room_again(tmp_path: Path, keyed: bytes | None) -> None:
    path = str(tmp_path / "audit.jsonl")
    done = subprocess.run([sys.executable, "-c", CHILD, path, "-"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    failures, first = done.stdout.splitlines()
    assert int(failures) >= 5
    assert "short write" in first or "File too large" in first
    report = verify_log(path, key=keyed, key_env=KEY_ENV)  # the torn end is reported, nothing is lost
    assert report.incomplete_at_end == 1 and report.last_seq == 5
    with AuditLog.open(AuditOptions(path=path, hmac_key_env=KEY_ENV)) as log:
        log.append({"event": "call", "i": 99})
    report = verify_log(path, key=keyed, key_env=KEY_ENV)
    assert (report.incomplete_at_end, report.last_seq, report.head) == (0, 7, "matches")
    recovery = load(read_lines(path)[-2])
    assert recovery["event"] == "recovery" and recovery["torn_line"] == 7


def test_disk_full_then_room_again_in_the_same_writer(tmp_path: Path, keyed: bytes | None) -> None:
    path = str(tmp_path / "audit.jsonl")
    done = subprocess.run(
        [sys.executable, "-c", CHILD, path, "room-again"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.splitlines()[0]) >= 5
    report = verify_log(path, key=keyed, key_env=KEY_ENV)
    assert (report.incomplete_at_end, report.last_seq, report.head) == (0, 7, "matches")
    last_two = [load(line) for line in read_lines(path)[-2:]]
    assert last_two[0]["event"] == "recovery" and last_two[1]["i"] == 50
