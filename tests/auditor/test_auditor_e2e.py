"""protect, end to end: the entry protect writes really starts the server through `mcpwarden run`
(the official SDK client on one side, the SDK fixture server on the other), the call lands in
the audit log, and the auditor then sees the server as guarded and used."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from auditor_homes import write_json
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from mcpwarden.auditor.audit import run_audit
from mcpwarden.auditor.discovery import discover
from mcpwarden.auditor.protect import apply_plan, plan_protect
from mcpwarden.auditor.target import Target

pytestmark = pytest.mark.anyio
FIXTURE_SERVER = str(Path(__file__).resolve().parent.parent / "fixtures" / "fixture_server.py")
MCPWARDEN = shutil.which("mcpwarden") or str(Path(sys.executable).parent / "mcpwarden")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.skipif(not Path(MCPWARDEN).exists(), reason="the mcpwarden console script is not installed")
async def test_protected_entry_runs_through_the_gateway(tmp_path: Path) -> None:
    home = tmp_path / "home"
    config = write_json(
        home / ".cursor" / "mcp.json",
        {
            "mcpServers": {
                "fixture": {"command": sys.executable, "args": [FIXTURE_SERVER], "env": {"FIXTURE_STDERR_BANNER": "hi"}}
            }
        },
    )
    plan = plan_protect(discover(Target(home=home)), None, MCPWARDEN)
    apply_plan(plan, home)
    entry = json.loads(config.read_text())["mcpServers"]["fixture"]
    assert entry["command"] == MCPWARDEN and entry["args"][-2:] == [sys.executable, FIXTURE_SERVER]

    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state), **entry["env"]}
    env.pop("MCPWARDEN_AUDIT_KEY", None)
    params = StdioServerParameters(command=entry["command"], args=entry["args"], env=env)
    with open(tmp_path / "gateway-stderr.log", "w", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
            names = {tool.name for tool in (await client.list_tools()).tools}
            assert "echo" in names
            result = await client.call_tool("echo", {"text": "through the gateway"})
            assert "".join(getattr(b, "text", "") for b in result.content) == "through the gateway"

    log = state / "mcpwarden" / "audit.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert any(r.get("server") == "fixture" and r.get("tool") == "echo" for r in records)
    report = run_audit(Target(home=home, audit_log=log))
    server = next(s for s in report.inventory.servers if s.name == "fixture")
    assert server.wrapped and server.command == sys.executable
    assert not [f for f in report.findings if f.server == "fixture" and f.check in ("AUD070", "AUD080")]
