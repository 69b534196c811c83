from mcpwarden.guards.base import PASS, Deny, Rewrite
from mcpwarden.guards.tools import ToolsGuard, ToolsOptions
from mcpwarden.testing import tcall, tmessage, tresponse, tsession


def guard(**options):
    return ToolsGuard(ToolsOptions(**options), "fs", "servers.fs.tools")


def call(tool):
    return tmessage("tools/call", {"name": tool, "arguments": {}})


def listing(*tools):
    return tresponse({"tools": list(tools), "nextCursor": "c", "x-unknown": 1})


def test_allow_all_by_default():
    assert guard().on_request(call("anything"), tsession()) is PASS


def test_deny_glob_wins_and_names_the_rule():
    verdict = guard(allow=["*"], deny=["write_*", "delete_*"]).on_request(call("delete_file"), tsession())
    assert isinstance(verdict, Deny)
    assert verdict.rule == "servers.fs.tools.deny[1]"
    assert "delete_file" in verdict.reason and "delete_*" in verdict.reason


def test_not_in_allow_list_is_denied():
    verdict = guard(allow=["read_*"]).on_request(call("write_file"), tsession())
    assert isinstance(verdict, Deny) and verdict.rule == "servers.fs.tools.allow"


def test_allow_globs_are_case_sensitive_and_deny_globs_are_not():
    """Denying more is the safe side: "*delete*" also stops "DeleteFile"; allowing "read_*"
    does not allow "READ_ALL", which may be another tool."""
    verdict = guard(deny=["*delete*"]).on_request(call("DeleteFile"), tsession())
    assert isinstance(verdict, Deny) and verdict.rule == "servers.fs.tools.deny[0]" and "'*delete*'" in verdict.reason
    assert isinstance(guard(allow=["read_*"]).on_request(call("READ_ALL"), tsession()), Deny)
    assert guard(allow=["read_*"]).on_request(call("read_all"), tsession()) is PASS


def test_tools_call_with_a_member_differing_only_in_case_is_denied():
    """Go's encoding/json matches names ignoring case and keeps the last: "NAME" would be the
    tool such a server runs, while the gateway judged "name"."""
    for params in ({"name": "echo", "NAME": "delete_all"}, {"name": "echo", "Arguments": {}}):
        verdict = guard(deny=["delete_*"]).on_request(tmessage("tools/call", params), tsession())
        assert isinstance(verdict, Deny) and "only in case" in verdict.reason


def test_tools_call_without_name_is_denied():
    assert isinstance(guard().on_request(tmessage("tools/call", {}), tsession()), Deny)


def test_tools_list_hides_denied_tools_and_keeps_other_fields():
    g = guard(deny=["write_*"])
    verdict = g.on_response(listing({"name": "read_file"}, {"name": "write_file"}), tcall("tools/list"), tsession())
    assert isinstance(verdict, Rewrite)
    result = verdict.obj["result"]
    assert [t["name"] for t in result["tools"]] == ["read_file"]
    assert result["nextCursor"] == "c" and result["x-unknown"] == 1


def test_read_only_uses_annotations_seen_in_tools_list():
    g = guard(read_only=True, reads=["search"])
    session = tsession()
    tools = (
        {"name": "read_file", "annotations": {"readOnlyHint": True}},
        {"name": "write_file", "annotations": {"readOnlyHint": False}},
        {"name": "search"},
        {"name": "mystery"},
    )
    verdict = g.on_response(listing(*tools), tcall("tools/list"), session)
    assert [t["name"] for t in verdict.obj["result"]["tools"]] == ["read_file", "search"]
    assert g.on_request(call("read_file"), session) is PASS
    assert g.on_request(call("search"), session) is PASS
    denied = g.on_request(call("write_file"), session)
    assert isinstance(denied, Deny) and "readOnlyHint" in denied.reason and denied.rule.endswith("read_only")


def test_read_only_denies_a_tool_never_listed():
    denied = guard(read_only=True).on_request(call("read_file"), tsession())
    assert isinstance(denied, Deny) and "not been listed" in denied.reason


def test_server_requests_are_not_tool_calls():
    assert guard(deny=["*"]).on_request(tmessage("tools/call", {"name": "x"}, origin="server"), tsession()) is PASS
