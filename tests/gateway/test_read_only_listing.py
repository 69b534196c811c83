"""Read-only mode learns readOnlyHint from tools/list: what it learnt must follow the server
(a list_changed, a new listing), every page must be read, and monitor mode holds nothing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from mcpwarden.wire import codes

from .conftest import audit_records, bad_command, gateway_args, gateway_env, raw_gateway, write_policy

SERVER_PRELUDE = r"""
import json, sys
def tool(name, read_only=True):
    return {"name": name, "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": read_only}}
def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()
def answer(m, result):
    send({"jsonrpc": "2.0", "id": m["id"], "result": result})
def hello(m, name, list_changed=True):
    answer(m, {"protocolVersion": "2025-11-25", "capabilities": {"tools": {"listChanged": list_changed}},
               "serverInfo": {"name": name, "version": "0"}})
def requests():
    for line in sys.stdin:
        m = json.loads(line)
        if "id" in m:
            yield m, m.get("method"), m.get("params") or {}
"""

LISTING_SERVER = SERVER_PRELUDE + r"""
state = {"switched": False}
def pages():
    if state["switched"]:
        return [[tool("read_a", False), tool("new_read", True), tool("switch", True)]]
    return [[tool("read_a", True), tool("switch", True)], [tool("read_b", True)]]
for m, method, params in requests():
    if method == "initialize":
        hello(m, "listing")
    elif method == "tools/list":
        all_pages = pages()
        page = int(params.get("cursor") or 0)
        result = {"tools": all_pages[page]}
        if page + 1 < len(all_pages):
            result["nextCursor"] = str(page + 1)
        answer(m, result)
    elif method == "tools/call":
        if params["name"] == "switch":
            state["switched"] = True
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        answer(m, {"content": [{"type": "text", "text": params["name"]}]})
    else:
        answer(m, {})
"""


def start(tmp_path: Path, server: str = LISTING_SERVER, **policy: Any) -> Any:
    script = tmp_path / "listing_server.py"
    script.write_text(server)
    policy.setdefault("tools", {"read_only": True})
    args = gateway_args(write_policy(tmp_path, command=[sys.executable, str(script)], **policy), server="fx")
    return raw_gateway(args, gateway_env(tmp_path))


def call(gw: Any, name: str) -> dict[str, Any]:
    return gw.request("tools/call", {"name": name, "arguments": {}}, timeout=15)


def test_what_read_only_mode_learnt_follows_list_changed(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        assert "result" in call(gw, "read_b")  # on the second page of the gateway's own listing
        gw.send_json({"jsonrpc": "2.0", "id": "sw", "method": "tools/call", "params": {"name": "switch"}})
        assert gw.read_message()["method"] == "notifications/tools/list_changed"
        assert "result" in gw.response_to("sw")
        denied = call(gw, "read_a")  # no longer annotated read-only
        assert denied["error"]["code"] == codes.DENIED and "readOnlyHint" in denied["error"]["message"]
        gone = call(gw, "read_b")  # no longer listed at all
        assert gone["error"]["code"] == codes.DENIED and "has not been listed" in gone["error"]["message"]
        assert "result" in call(gw, "new_read")


def test_a_new_listing_by_the_client_drops_tools_no_longer_listed(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        assert "result" in call(gw, "read_b")
        gw.send_json({"jsonrpc": "2.0", "id": "sw", "method": "tools/call", "params": {"name": "switch"}})
        gw.read_message()  # list_changed
        gw.response_to("sw")
        listed = gw.request("tools/list", {})
        assert [t["name"] for t in listed["result"]["tools"]] == ["new_read", "switch"]  # read_a: not a read
        assert "has not been listed" in call(gw, "read_b")["error"]["message"]


def test_every_page_is_read_even_when_the_waiting_call_was_cancelled(tmp_path: Path) -> None:
    with start(tmp_path) as gw:
        gw.initialize()
        call_line = b'{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"read_b","arguments":{}}}\n'
        cancel = b'{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c1"}}\n'
        gw.send(call_line + cancel)  # held for the gateway's own listing, then cancelled at once
        answer = call(gw, "read_b")  # listed on page 2 and read-only: it must run
        assert "result" in answer, answer


def test_monitor_mode_holds_no_call_for_a_listing(tmp_path: Path) -> None:
    """Monitor changes nothing: a call goes on at once even when the server never lists."""
    policy = write_policy(tmp_path, command=bad_command("--hang-tools-list"), tools={"read_only": True},
                          mode="monitor")
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        answer = gw.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}}, timeout=10)
        assert "result" in answer, answer


GARBLED_FIRST_LISTING_SERVER = SERVER_PRELUDE + r"""
listings = 0
for m, method, params in requests():
    if method == "initialize":
        hello(m, "garbled", list_changed=False)
    elif method == "tools/list":
        listings += 1
        if listings == 1:  # cut short: not JSON
            sys.stdout.write('{"jsonrpc":"2.0","id":%s,"result":{"tools":[\n' % json.dumps(m["id"]))
            sys.stdout.flush()
        else:
            answer(m, {"tools": [tool("read_a")]})
    elif method == "tools/call":
        answer(m, {"content": [{"type": "text", "text": "ran"}]})
"""


def test_an_unusable_answer_to_the_gateways_listing_fails_the_held_call_at_once(tmp_path: Path) -> None:
    """The server answered the gateway's own tools/list with a line that is not JSON: the
    call waiting for it gets -31006 now (not -31004 after request_timeout, as if the server
    had not answered), and the next call has the tools listed again."""
    with start(tmp_path, GARBLED_FIRST_LISTING_SERVER, gateway={"request_timeout": 30}) as gw:
        gw.initialize()
        failed = call(gw, "read_a")
        assert failed["error"]["code"] == codes.UPSTREAM_INVALID, failed
        assert "tools/list" in failed["error"]["message"]
        assert "result" in call(gw, "read_a")


def test_a_tools_call_sent_as_a_notification_is_never_answered(tmp_path: Path) -> None:
    """A notification gets no response (JSON-RPC): a tools/call without an id is not held for
    a listing, whose timeout would answer it with id null; it is judged at once (a tool not
    known to be a read is dropped and audited)."""
    policy = write_policy(tmp_path, command=bad_command("--hang-tools-list"), tools={"read_only": True},
                          gateway={"request_timeout": 0.5})
    with raw_gateway(gateway_args(policy, server="fx"), gateway_env(tmp_path)) as gw:
        gw.initialize()
        gw.notify("tools/call", {"name": "echo", "arguments": {"text": "nt-1"}})
        assert gw.no_line_within(2.0) is None, "a notification was answered"
    records = [r for r in audit_records(tmp_path) if r.get("tool") == "echo"]
    assert [(r["outcome"], r["rule"]) for r in records] == [("blocked", "servers.fx.tools.read_only")]


CHANGED_WHILE_LISTED_SERVER = SERVER_PRELUDE + r"""
told = False
for m, method, params in requests():
    if method == "initialize":
        hello(m, "changed")
    elif method == "tools/list" and params.get("cursor"):
        answer(m, {"tools": [tool("read_b")]})
    elif method == "tools/list":
        answer(m, {"tools": [tool("read_a")], "nextCursor": "2"})
        if not told:  # its tools changed just after the first page went out
            told = True
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
    elif method == "tools/call":
        answer(m, {"content": [{"type": "text", "text": params["name"]}]})
"""


def test_a_list_changed_during_the_gateways_listing_makes_it_start_over(tmp_path: Path) -> None:
    """A list_changed between two pages of the gateway's own listing makes it forget the
    first page; the listing must start over, not end with the first page forgotten (its
    read-only tools were then refused as never listed, for the rest of the session)."""
    with start(tmp_path, CHANGED_WHILE_LISTED_SERVER) as gw:
        gw.initialize()
        assert "result" in call(gw, "read_b"), gw.notifications
        assert [n["method"] for n in gw.notifications] == ["notifications/tools/list_changed"]
        answer = call(gw, "read_a")
        assert "result" in answer, answer
