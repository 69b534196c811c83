from typing import ClassVar

import pytest

from mcpwarden.gateway.pipeline import Pipeline
from mcpwarden.guards.base import PASS, Deny, Guard, Rewrite
from mcpwarden.testing import tcall, tmessage, tresponse, tsession
from mcpwarden.wire import codes


class Recorder(Guard):
    name = "recorder"
    methods: ClassVar = frozenset({"tools/call"})

    def __init__(self):
        self.seen = []

    def on_request(self, msg, session):
        self.seen.append(msg.method)
        return PASS


class Denier(Guard):
    name = "denier"

    def on_request(self, msg, session):
        return Deny("no", "rules.denier")


class Rewriter(Guard):
    name = "rewriter"

    def on_response(self, msg, call, session):
        obj = dict(msg.obj)
        obj["result"] = {"rewritten": True}
        return Rewrite(obj, "rules.rewriter", "changed")


class Exploder(Guard):
    name = "exploder"

    def on_request(self, msg, session):
        raise RuntimeError("bug")


def test_guard_sees_only_its_methods():
    rec = Recorder()
    p = Pipeline([rec])
    p.on_request(tmessage("resources/read", {}), tsession())
    p.on_request(tmessage("tools/call", {"name": "x"}), tsession())
    assert rec.seen == ["tools/call"]


def test_first_deny_stops_the_chain():
    rec = Recorder()
    out = Pipeline([Denier(), rec]).on_request(tmessage("tools/call", {"name": "x"}), tsession())
    assert out.deny is not None and out.verdict == "deny" and out.rule == "rules.denier"
    assert rec.seen == []


def test_rewrite_replaces_the_message_bytes():
    out = Pipeline([Rewriter()]).on_response(tresponse({"a": 1}), tcall("tools/call"), tsession())
    assert out.verdict == "rewrite"
    assert b'"rewritten":true' in out.msg.raw


def test_raising_guard_fails_closed_even_in_monitor_mode():
    for monitor in (False, True):
        out = Pipeline([Exploder()], monitor=monitor).on_request(tmessage("tools/call", {"name": "x"}), tsession())
        assert out.deny is not None and out.deny.code == codes.GUARD_FAILED and out.verdict == "error"
        assert "bug" not in out.deny.reason


def test_monitor_mode_records_but_lets_through():
    msg = tmessage("tools/call", {"name": "x"})
    out = Pipeline([Denier()], monitor=True).on_request(msg, tsession())
    assert out.deny is None and out.verdict == "would-deny" and out.rule == "rules.denier"
    assert out.msg is msg
    resp = tresponse({"a": 1})
    out = Pipeline([Rewriter()], monitor=True).on_response(resp, tcall(), tsession())
    assert out.verdict == "would-rewrite" and out.msg is resp


@pytest.mark.parametrize("method", ["ping", "x/unknown", None])
def test_no_guards_means_pass(method):
    msg = tmessage(method or "m", {})
    assert Pipeline([]).on_request(msg, tsession()).verdict == "pass"


def test_a_raising_guard_is_logged_by_type_and_place_never_by_its_text(caplog) -> None:
    """An exception's text may quote the message it was judging (here the 'bug' reason
    stands for a value); the log names its type and where it was raised."""
    with caplog.at_level("ERROR", logger="mcpwarden"):
        Pipeline([Exploder()]).on_request(tmessage("tools/call", {"name": "x"}), tsession())
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "RuntimeError at test_pipeline.py:43" in logged
    assert "bug" not in logged and not any(r.exc_info for r in caplog.records)


class RequestRewriter(Guard):
    name = "request-rewriter"

    def on_request(self, msg, session):
        return Rewrite(dict(msg.obj), "rules.request-rewriter", "changed")


def test_monitor_names_the_rule_that_would_deny_even_after_a_rewrite():
    """Enforce mode records the denying rule; monitor must record the same one, not the rule
    of a rewrite that came first."""
    msg = tmessage("tools/call", {"name": "x"})
    enforced = Pipeline([RequestRewriter(), Denier()]).on_request(msg, tsession())
    monitored = Pipeline([RequestRewriter(), Denier()], monitor=True).on_request(msg, tsession())
    assert (enforced.verdict, enforced.rule) == ("deny", "rules.denier")
    assert (monitored.verdict, monitored.rule) == ("would-deny", "rules.denier")
    assert monitored.msg is msg
