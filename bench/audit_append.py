"""Cost of one audit append on the gateway's hot path, in µs per small record.

    .venv/bin/python bench/audit_append.py [--records N] [--rounds R]

Prints the median (and best) over rounds for an unkeyed (SHA-256) and a keyed (HMAC-SHA-256)
chain, and the time `log verify` takes per record. Target: <= 15 µs per record. Other load on
the machine shows up directly in the wall-clock figures (the load average is printed); the CPU
time per record is less sensitive to it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from mcpwarden.audit import AuditLog, AuditOptions, verify_log

TARGET_US = 15.0
KEY_ENV = "MCPWARDEN_BENCH_AUDIT_KEY"


def small_record(i: int) -> dict[str, object]:
    return {
        "event": "call",
        "session": "3f2a9c1e0b7d4a56",
        "principal": "local",
        "server": "filesystem",
        "method": "tools/call",
        "tool": "read_file",
        "arg_keys": ["path"],
        "args_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "result_sha256": "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
        "verdict": "pass",
        "rule": None,
        "duration_ms": 0.42 + i % 7,
        "origin": "client",
    }


def one_round(directory: str, records: int, keyed: bool) -> tuple[float, float, float]:
    path = os.path.join(directory, f"audit-{time.monotonic_ns()}.jsonl")
    options = AuditOptions(path=path, hmac_key_env=KEY_ENV, rotate_bytes=1 << 30)
    if keyed:
        os.environ[KEY_ENV] = os.urandom(32).hex()
    else:
        os.environ.pop(KEY_ENV, None)
    log = AuditLog.open(options)
    batch = [small_record(i) for i in range(records)]
    start, start_cpu = time.perf_counter(), time.process_time()
    for record in batch:
        log.append(record)
    append_us = (time.perf_counter() - start) / records * 1e6
    append_cpu_us = (time.process_time() - start_cpu) / records * 1e6
    log.close()
    key = os.environb.get(KEY_ENV.encode())
    start = time.perf_counter()
    verify_log(path, key=key, key_env=KEY_ENV)
    verify_us = (time.perf_counter() - start) / records * 1e6
    return append_us, verify_us, append_cpu_us


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    worst = 0.0
    with tempfile.TemporaryDirectory(prefix="mcpwarden-bench-") as directory:
        for keyed in (False, True):
            results = [one_round(directory, args.records, keyed) for _ in range(args.rounds)]
            append = statistics.median(r[0] for r in results)
            best = min(r[0] for r in results)
            cpu = statistics.median(r[2] for r in results)
            verify = statistics.median(r[1] for r in results)
            worst = max(worst, append)
            name = "HMAC-SHA-256" if keyed else "SHA-256     "
            print(
                f"audit append {name}: {append:6.2f} µs/record (best round {best:5.2f}, CPU {cpu:5.2f})   "
                f"verify: {verify:5.2f} µs/record"
            )
    verdict = "OK" if worst <= TARGET_US else "OVER TARGET"
    load = os.getloadavg()[0]
    print(
        f"target <= {TARGET_US:.0f} µs/record: {verdict} ({args.records} records x {args.rounds} rounds, median; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
