"""Start-up time of a small stdio server, sandboxed (bubblewrap tier, full policy: filesystem,
network namespace with egress proxy, limits, seccomp) against unsandboxed, in the same run.
Start-up = spawn until the answer to the first request; also measures per-call round trips.

    .venv/bin/python bench/sandbox_startup.py [--runs 20] [--calls 200]

Target (issue 4): sandboxed start-up <= 50 ms slower; no added per-call latency.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from mcpwarden.policy.schema import Policy
from mcpwarden.sandbox import Launch, prepare, probe

SERVER = r"""
import sys
for line in sys.stdin:
    sys.stdout.write('{"jsonrpc":"2.0","id":1,"result":{}}\n')
    sys.stdout.flush()
"""
REQUEST = b'{"jsonrpc":"2.0","id":1,"method":"ping"}\n'
PYTHON = "/usr/bin/python3"


async def one_start(launch: Launch, calls: int) -> tuple[float, float]:
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *launch.argv, env=launch.env, cwd=launch.cwd, pass_fds=launch.pass_fds, preexec_fn=launch.preexec,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, start_new_session=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(REQUEST)
    await asyncio.wait_for(proc.stdout.readline(), 30)
    startup = time.perf_counter() - started
    began = time.perf_counter()
    for _ in range(calls):
        proc.stdin.write(REQUEST)
        await asyncio.wait_for(proc.stdout.readline(), 30)
    per_call = (time.perf_counter() - began) / max(calls, 1)
    proc.stdin.close()
    await asyncio.wait_for(proc.wait(), 30)
    return startup, per_call


async def measure(entry: dict[str, Any], runs: int, calls: int, state: Path) -> dict[str, float]:
    policy = Policy.model_validate({"servers": {"bench": {"command": PYTHON, "args": ["-I", "-c", SERVER], **entry}}})
    t0 = time.perf_counter()
    launch = await prepare("bench", policy.servers["bench"], policy, lambda record: None, state_dir=state)
    prepared = time.perf_counter() - t0
    try:
        await one_start(launch, 0)  # warm the page cache
        results = [await one_start(launch, calls) for _ in range(runs)]
    finally:
        await launch.close()
    return {
        "prepare_ms": prepared * 1000,
        "startup_median_ms": statistics.median(r[0] for r in results) * 1000,
        "startup_p90_ms": sorted(r[0] for r in results)[int(0.9 * (len(results) - 1))] * 1000,
        "call_median_us": statistics.median(r[1] for r in results) * 1e6,
    }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    caps = probe()
    print(f"sandbox tier here: {caps.tier}")
    sandboxed = {"filesystem": {"read": []}, "network": {"allow": ["example.com"]},
                 "limits": {"memory": "256M", "pids": 64, "open_files": 256}}
    with tempfile.TemporaryDirectory() as tmp:
        plain = await measure({}, args.runs, args.calls, Path(tmp))
        boxed = await measure(sandboxed, args.runs, args.calls, Path(tmp))
    width = max(map(len, plain))
    print(f"{'':<{width}}  {'unsandboxed':>12}  {'sandboxed':>12}  {'difference':>12}")
    for key in plain:
        print(f"{key:<{width}}  {plain[key]:>12.2f}  {boxed[key]:>12.2f}  {boxed[key] - plain[key]:>+12.2f}")
    added = boxed["startup_median_ms"] - plain["startup_median_ms"]
    verdict = "meets" if added <= 50 else "MISSES"
    print(f"start-up added by the sandbox: {added:.1f} ms (median of {args.runs}); {verdict} the 50 ms target")
    return 0 if added <= 50 else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
