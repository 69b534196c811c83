"""DlpGuard: hooks called directly with the testing factories."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest

from mcpwarden.detect import Engine, HoneyToken
from mcpwarden.detect.baseline import write_baseline
from mcpwarden.guards.base import Deny, Pass, Rewrite
from mcpwarden.guards.dlp import DlpGuard, engine_from_options
from mcpwarden.guards.dlp_options import DetectionOptions
from mcpwarden.testing import tcall, tmessage, tpolicy, tresponse, tsession
from mcpwarden.wire import codes

from .conftest import AWS_KEY_ID, EXAMPLE_RULES, GITHUB_PAT, PII_RULES

CANARY = HoneyToken("billing", "AKIAZZZZCANARY234567", "aws")
KEY = b"guard-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.load(builtin=False, extra=[EXAMPLE_RULES, PII_RULES], honeytokens=[CANARY], key=KEY)


def guard(engine: Engine, server: str = "files", **options) -> DlpGuard:
    return DlpGuard(tpolicy(detection=options).detection, server, engine)


def call(arguments: dict, tool: str = "write_file") -> object:
    return tmessage(params={"name": tool, "arguments": arguments})


def test_secret_in_arguments_is_blocked_naming_rule_and_path_never_value(engine: Engine) -> None:
    verdict = guard(engine).on_request(call({"path": "a.txt", "content": f"token={GITHUB_PAT}"}), tsession())
    assert isinstance(verdict, Deny)
    assert verdict.code == codes.SECRET_BLOCKED
    assert "sample-github-pat" in verdict.reason and "$.params.arguments.content" in verdict.reason
    assert GITHUB_PAT not in verdict.reason and GITHUB_PAT not in json.dumps(verdict.data)
    assert verdict.rule == "detection.sample-github-pat"


def test_clean_arguments_pass(engine: Engine) -> None:
    assert guard(engine).on_request(call({"path": "a.txt", "content": "hello"}), tsession()) == Pass()


def test_secret_in_result_is_redacted_and_json_stays_valid(engine: Engine) -> None:
    session = tsession()
    g = guard(engine)
    result = {"content": [{"type": "text", "text": f"AWS_ACCESS_KEY_ID={AWS_KEY_ID}\nok"}], "isError": False}
    verdict = g.on_response(tresponse(result), tcall(tool="read_file"), session)
    assert isinstance(verdict, Rewrite)
    text = verdict.obj["result"]["content"][0]["text"]
    assert AWS_KEY_ID not in text and text.startswith("AWS_ACCESS_KEY_ID=[REDACTED:sample-aws-key-id:")
    assert orjson.loads(orjson.dumps(verdict.obj))["id"] == 1
    again = g.on_response(tresponse({"structuredContent": {"k": AWS_KEY_ID}}), tcall(tool="read_file"), session)
    assert isinstance(again, Rewrite)
    tag = text.split("=", 1)[1].split("\n")[0]
    assert again.obj["result"]["structuredContent"]["k"] == tag, "same secret, same tag within a session"
    other = g.on_response(tresponse({"structuredContent": {"k": AWS_KEY_ID}}), tcall(tool="read_file"), tsession())
    assert other.obj["result"]["structuredContent"]["k"] != tag, "tags differ across sessions"


def test_honeytoken_is_blocked_in_both_directions_even_when_actions_are_off(engine: Engine) -> None:
    g = guard(engine, arguments="off", results="off", rules={"*": {"action": "off"}}, allow_rules=["*"])
    assert isinstance(g.on_request(call({"q": CANARY.value}), tsession()), Deny)
    session = tsession()
    verdict = g.on_response(tresponse({"content": [{"type": "text", "text": CANARY.value}]}), tcall(), session)
    assert isinstance(verdict, Deny) and "honeytoken" in verdict.reason
    (alert,) = session.state["dlp"]["alerts"]
    assert alert["rule"] == "honeytoken-aws" and alert["direction"] == "results" and CANARY.value not in str(alert)


def test_generic_findings_warn_into_session_state(engine: Engine) -> None:
    session = tsession()
    verdict = guard(engine).on_request(call({"cfg": 'db_password = "q7Rz!e2Lw9Xa"'}), session)
    assert verdict == Pass()
    (warning,) = session.state["dlp"]["warnings"]
    assert warning["rule"] == "sample-generic-password" and warning["tier"] == "generic"
    assert warning["path"] == "$.params.arguments.cfg" and len(warning["fingerprint"]) == 32
    assert "q7Rz" not in json.dumps(warning)


def test_pii_warns_by_default_and_can_be_redacted(engine: Engine) -> None:
    session = tsession()
    msg = tresponse({"content": [{"type": "text", "text": "Author: Jane Roe <jane.roe@acme-corp.io>"}]})
    assert guard(engine).on_response(msg, tcall(), session) == Pass()
    assert session.state["dlp"]["warnings"][0]["tier"] == "pii"
    verdict = guard(engine, pii="redact").on_response(msg, tcall(), tsession())
    assert isinstance(verdict, Rewrite) and "jane.roe" not in json.dumps(verdict.obj)


def test_actions_per_server_tool_and_rule(engine: Engine) -> None:
    msg = tresponse({"content": [{"type": "text", "text": f"key {AWS_KEY_ID}"}]})
    options = {
        "servers": {
            "files": {"results": "block", "tools": {"read_*": {"results": "warn"}}},
            "other": {"rules": {"sample-aws-*": {"results": "off"}}},
        }
    }
    assert isinstance(guard(engine, "files", **options).on_response(msg, tcall(tool="write"), tsession()), Deny)
    assert guard(engine, "files", **options).on_response(msg, tcall(tool="read_x"), tsession()) == Pass()
    assert guard(engine, "other", **options).on_response(msg, tcall(tool="read_x"), tsession()) == Pass()
    assert isinstance(guard(engine, "third", **options).on_response(msg, tcall(tool="x"), tsession()), Rewrite)
    rule_block = {"rules": {"sample-aws-key-id": {"results": "block"}}}
    assert isinstance(guard(engine, **rule_block).on_response(msg, tcall(), tsession()), Deny)


def test_allowlists_per_tool_and_rule(engine: Engine) -> None:
    msg = call({"content": GITHUB_PAT}, tool="gh_login")
    assert guard(engine, allow_rules=["sample-github-*"]).on_request(msg, tsession()) == Pass()
    per_tool = {"servers": {"files": {"tools": {"gh_*": {"allow_rules": ["sample-github-pat"]}}}}}
    assert guard(engine, **per_tool).on_request(msg, tsession()) == Pass()
    assert isinstance(guard(engine, **per_tool).on_request(call({"c": GITHUB_PAT}, tool="x"), tsession()), Deny)


def test_baseline_accepts_listed_findings(engine: Engine, tmp_path: Path) -> None:
    accepted = engine.scan_text(GITHUB_PAT)
    path = tmp_path / "baseline.json"
    write_baseline(path, engine.fingerprint.key_id, [(f, None) for f in accepted])
    g = guard(engine, baseline=str(path))
    assert g.on_request(call({"c": GITHUB_PAT}), tsession()) == Pass()
    assert isinstance(g.on_request(call({"c": AWS_KEY_ID}), tsession()), Deny)
    other = Engine.load(builtin=False, extra=[EXAMPLE_RULES], key=b"another-key-0123456789")
    with pytest.raises(Exception, match="made under fingerprint key"):
        DlpGuard(tpolicy(detection={"baseline": str(path)}).detection, "files", other)


def test_server_to_client_requests_and_client_answers_are_scanned(engine: Engine) -> None:
    sampling = tmessage(
        method="sampling/createMessage",
        params={"messages": [{"role": "user", "content": {"type": "text", "text": GITHUB_PAT}}]},
        origin="server",
    )
    assert isinstance(guard(engine).on_request(sampling, tsession()), Deny)
    answer = tresponse({"roots": [{"uri": f"file:///x?t={GITHUB_PAT}"}]}, origin="client")
    assert isinstance(guard(engine).on_response(answer, tcall(method="roots/list"), tsession()), Deny)
    prompt = tmessage(method="prompts/get", params={"name": "p", "arguments": {"x": GITHUB_PAT}})
    assert isinstance(guard(engine).on_request(prompt, tsession()), Deny)


def test_disabled_and_oversized(engine: Engine) -> None:
    assert guard(engine, enabled=False).on_request(call({"c": GITHUB_PAT}), tsession()) == Pass()
    verdict = guard(engine, max_scan_bytes=1024).on_request(call({"c": "x" * 2000}), tsession())
    assert isinstance(verdict, Deny) and "max_scan_bytes" in verdict.reason


def test_warnings_are_bounded(engine: Engine) -> None:
    session = tsession()
    g = guard(engine, max_warnings=3)
    for i in range(10):
        g.on_request(call({"cfg": f'password = "q7Rz!e2Lw9X{i}a"'}), session)
    assert len(session.state["dlp"]["warnings"]) == 3


def test_engine_from_options_reads_declared_and_stored_honeytokens(tmp_path: Path) -> None:
    from mcpwarden.detect.honeytoken import add_to_store, mint

    store = tmp_path / "ht.json"
    minted = mint("github", "gh-canary")
    add_to_store(store, minted)
    options = DetectionOptions(
        builtin_rules=False,
        rule_files=[str(EXAMPLE_RULES)],
        honeytokens=[{"name": "declared", "value": "canary-value-1234"}],
        honeytoken_store=str(store),
    )
    engine = engine_from_options(options)
    assert {t.name for t in engine.honeytokens} == {"declared", "gh-canary"}
    verdict = DlpGuard(options, "s", engine).on_request(call({"x": f"use {minted.value}"}), tsession())
    assert isinstance(verdict, Deny) and "honeytoken" in verdict.reason


def test_policy_rejects_unknown_detection_keys() -> None:
    from mcpwarden.errors import PolicyError
    from mcpwarden.policy.loader import parse_policy

    with pytest.raises(PolicyError, match=r"detection\.servers\.x\.tools\.y\.resluts"):
        parse_policy("detection:\n  servers:\n    x:\n      tools:\n        y:\n          resluts: block\n")
    policy = parse_policy("detection:\n  results: block\n  pii: redact\n")
    assert policy.detection.results == "block" and policy.detection.pii == "redact"


def test_server_notifications_are_redacted_not_blocked(engine: Engine) -> None:
    log = tmessage(
        method="notifications/message",
        params={"level": "info", "data": f"using key {AWS_KEY_ID}"},
        origin="server",
        notification=True,
    )
    verdict = guard(engine).on_request(log, tsession())
    assert isinstance(verdict, Rewrite) and AWS_KEY_ID not in json.dumps(verdict.obj)


def _line(obj: dict, origin: str = "client") -> object:
    from mcpwarden.wire.message import parse

    return parse(orjson.dumps(obj), origin)  # type: ignore[arg-type]


def test_every_forwarded_member_is_scanned_not_only_params_and_result(engine: Engine) -> None:
    """The gateway forwards unknown top-level members, the id and the method byte for byte: a
    secret there is blocked (requests) or redacted (results) like one in params/result, and
    a method holding it is not repeated in the denial."""
    g = guard(engine)
    base = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "t", "arguments": {}}}
    for obj, path in [
        ({**base, "extra": GITHUB_PAT}, "$.extra"),
        ({**base, "id": f"req-{GITHUB_PAT}"}, "$.id"),
        ({"jsonrpc": "2.0", "method": "notifications/x", "note": {"t": GITHUB_PAT}}, "$.note.t"),
    ]:
        verdict = g.on_request(_line(obj), tsession())
        assert isinstance(verdict, Deny) and path in verdict.reason, obj
        assert GITHUB_PAT not in verdict.reason
    verdict = g.on_request(_line({"jsonrpc": "2.0", "id": 8, "method": GITHUB_PAT, "params": {}}), tsession())
    assert isinstance(verdict, Deny) and "$.method" in verdict.reason and GITHUB_PAT not in verdict.reason

    session = tsession()
    note = {"jsonrpc": "2.0", "method": "notifications/message", "extra": AWS_KEY_ID, "params": {"level": "info"}}
    verdict = g.on_request(_line(note, "server"), session)
    assert isinstance(verdict, Rewrite) and AWS_KEY_ID not in json.dumps(verdict.obj)
    assert verdict.obj["params"] == {"level": "info"} and verdict.obj["method"] == "notifications/message"
    answer = {"jsonrpc": "2.0", "id": 1, "result": {"content": []}, "extra": [AWS_KEY_ID], AWS_KEY_ID: 1}
    verdict = g.on_response(_line(answer, "server"), tcall(tool="read_file"), session)
    assert isinstance(verdict, Rewrite) and AWS_KEY_ID not in json.dumps(verdict.obj)
    assert verdict.obj["id"] == 1 and verdict.obj["result"] == {"content": []} and len(verdict.obj) == 5


def test_integers_beyond_64_bits_are_scanned_digit_for_digit(engine: Engine) -> None:
    """orjson reads them as floats; the line goes on as it came, so its digits are scanned."""
    digits = "40000000000000000001234"
    canary = HoneyToken("account", digits, "custom")
    options = tpolicy(detection={}).detection
    g = DlpGuard(options, "files", Engine.load(builtin=False, extra=[EXAMPLE_RULES], honeytokens=[canary], key=KEY))
    for raw in [f'{{"n": {digits}}}', f'{{"n": [1, -{digits}]}}', f'{{"k": {{"m":{digits}0}}}}']:
        line = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","arguments":' + raw.encode() + b"}}"
        from mcpwarden.wire.message import parse

        verdict = g.on_request(parse(line, "client"), tsession())
        assert isinstance(verdict, Deny) and "honeytoken" in verdict.reason, raw
    # A redaction the gateway cannot write back exactly (orjson writes no such integer) is a denial.
    line = b'{"jsonrpc":"2.0","id":1,"result":{"n":123456789012345678901234,"t":"' + AWS_KEY_ID.encode() + b'"}}'
    verdict = g.on_response(parse(line, "server"), tcall(), tsession())
    assert isinstance(verdict, Deny) and "beyond 64 bits" in verdict.reason and AWS_KEY_ID not in verdict.reason
