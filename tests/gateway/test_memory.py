"""The gateway gives the heap that large messages used back to the OS once they pause, so a
long-running gateway does not stay megabytes larger after one big result."""

from __future__ import annotations

import time
from pathlib import Path

import psutil
import pytest

from mcpwarden.gateway.memory import trim_heap

from .conftest import gateway_env, raw_gateway, text_content, through_gateway

RESULT_BYTES = 1 << 20


@pytest.mark.skipif(not trim_heap(), reason="malloc_trim needs glibc")
def test_heap_of_large_results_is_returned_after_a_pause(tmp_path: Path) -> None:
    with raw_gateway(through_gateway(tmp_path), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gateway = psutil.Process(gw.pid)
        before = gateway.memory_info().rss
        for _ in range(5):
            result = gw.call_tool("big_result", {"size_bytes": RESULT_BYTES}, timeout=30)
            assert len(text_content(result)) == RESULT_BYTES
        loaded = gateway.memory_info().rss
        # Each 1 MB result passes through a handful of 1 MB buffers; glibc keeps them.
        assert loaded - before >= 3 << 20, f"expected the heap to grow with large results ({before} -> {loaded})"
        deadline = time.monotonic() + 5
        settled = loaded
        while time.monotonic() < deadline:
            settled = gateway.memory_info().rss
            if loaded - settled >= 3 << 20:
                break
            time.sleep(0.05)
        assert loaded - settled >= 3 << 20, f"RSS did not shrink after large results paused ({loaded} -> {settled})"
        assert gw.call_tool("echo", {"text": "still fine"})["result"]["content"][0]["text"] == "still fine"
