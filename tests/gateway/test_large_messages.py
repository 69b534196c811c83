"""Messages of 50 MB pass through the gateway in both directions, unchanged, with the default
limit (gateway.max_message_bytes is 64 MiB)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import orjson

from .conftest import gateway_args, gateway_env, raw_gateway, write_policy

FIFTY_MB = 50 * 1000 * 1000


def test_fifty_megabyte_messages_pass_both_ways(tmp_path: Path) -> None:
    policy = write_policy(tmp_path, gateway={"request_timeout": 60})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        started = time.monotonic()
        gw.send_json({"jsonrpc": "2.0", "id": 501, "method": "tools/call",
                      "params": {"name": "big_result", "arguments": {"size_bytes": FIFTY_MB}}})
        line = gw.read_line(timeout=60)
        result_seconds = time.monotonic() - started
        assert len(line) > FIFTY_MB
        response = orjson.loads(line)
        assert response["id"] == 501
        text = response["result"]["content"][0]["text"]
        assert len(text) == FIFTY_MB and hashlib.sha256(text.encode()).digest() == hashlib.sha256(
            b"x" * FIFTY_MB).digest()
        del line, response, text

        data = "".join(chr(ord("a") + i % 26) for i in range(26)) * (FIFTY_MB // 26)
        started = time.monotonic()
        reply = gw.call_tool("payload_size", {"data": data}, timeout=60)
        request_seconds = time.monotonic() - started
        assert reply["result"]["structuredContent"] == {"result": len(data)}
        # Generous bounds on a 2-core machine; direct takes ~1-2 s each way.
        assert result_seconds < 30 and request_seconds < 30
