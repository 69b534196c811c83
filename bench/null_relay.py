"""A stdio relay that does nothing but pass lines both ways: the benchmark's reference for
what any extra Python process between an MCP client and its server costs on this machine.

    python bench/null_relay.py COMMAND [ARGS...]

It starts COMMAND as a child, splits each direction into lines and writes every line on
unchanged: no parsing, no guards, no audit. It reads the way the gateway does (one ``readv``
into a buffer it reuses), so the reference is not slowed by allocating a buffer per read.
`gateway_bench.py` runs it beside the direct connection and `mcpwarden run`, so the figures
show which part of the gateway's added latency is the extra hop itself.
"""

from __future__ import annotations

import asyncio
import mmap
import os
import subprocess
import sys

READ_SIZE = 4 << 20  # as the gateway reads


def _relay(src: int, dst: int, buffer: mmap.mmap, pending: bytearray, done: asyncio.Future[None]) -> None:
    n = os.readv(src, (buffer,))
    if not n:
        if not done.done():
            done.set_result(None)
        return
    pending += memoryview(buffer)[:n]
    end = pending.rfind(b"\n") + 1
    if end:
        view = memoryview(pending)[:end]
        while view:
            view = view[os.write(dst, view) :]
        view.release()
        del pending[:end]


async def main(argv: list[str]) -> int:
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert child.stdin is not None and child.stdout is not None
    to_child, from_child = child.stdin.fileno(), child.stdout.fileno()
    os.set_blocking(0, False)
    os.set_blocking(from_child, False)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    loop.add_reader(0, _relay, 0, to_child, mmap.mmap(-1, READ_SIZE), bytearray(), done)
    loop.add_reader(from_child, _relay, from_child, 1, mmap.mmap(-1, READ_SIZE), bytearray(), done)
    try:
        await done
    finally:
        child.stdin.close()
        child.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
