"""The benchmark's do-nothing relay (bench/null_relay.py) is the reference its figures are
read against: it must carry a session whole, or the comparison means nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import FIXTURE_SERVER, PYTHON, sdk_client, text_of

pytestmark = pytest.mark.anyio

NULL_RELAY = str(Path(__file__).resolve().parents[2] / "bench" / "null_relay.py")


async def test_null_relay_carries_calls_and_a_large_result_unchanged(tmp_path: Path) -> None:
    async with sdk_client([NULL_RELAY, PYTHON, FIXTURE_SERVER], tmp_path) as client:
        assert text_of(await client.call_tool("echo", {"text": "héllo ✓"})) == "héllo ✓"
        size = 3 * 1000 * 1000  # several pipe buffers: lines split across reads are joined
        text = text_of(await client.call_tool("big_result", {"size_bytes": size}))
        assert len(text) == size
        assert text_of(await client.call_tool("echo", {"text": "after"})) == "after"
