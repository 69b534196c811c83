import orjson
import pytest

from mcpwarden.errors import FramingError
from mcpwarden.wire import codes
from mcpwarden.wire.message import error_response, parse


def test_request_notification_response_classified():
    assert parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}', "client").kind == "request"
    assert parse(b'{"jsonrpc":"2.0","method":"notifications/progress"}', "server").kind == "notification"
    r = parse(b'{"jsonrpc":"2.0","id":"a","result":{}}', "server")
    assert (r.kind, r.id) == ("response", "a")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "invalid JSON"),
        (b'{"a":"\xff"}', "invalid"),
        (b"[1,2]", "batches"),
        (b"42", "JSON object"),
        (b'{"jsonrpc":"2.0"}', "not a JSON-RPC"),
        (b'{"jsonrpc":"2.0","id":1}', "neither a result nor an error"),
        (b'{"jsonrpc":"2.0","id":1,"result":{},"error":{}}', "both a result and an error"),
        (b'{"jsonrpc":"2.0","id":{"x":1},"method":"m"}', "'id' must be"),
        (b'{"jsonrpc":"2.0","id":1,"method":5}', "'method' must be"),
        (b'{"jsonrpc":"2.0","id":1,"method":"tools/list","METHOD":"tools/call"}', "only in case"),
        ('{"jsonrpc":"2.0","id":1,"method":"m","param\u017f":{}}'.encode(), "only in case"),  # long s folds to s
        (b'{"jsonrpc":"2.0","id":1,"result":{},"Error":{}}', "only in case"),
    ],
)
def test_malformed_messages_raise_framing_error_with_reason(raw, reason):
    with pytest.raises(FramingError) as info:
        parse(raw, "client")
    assert reason in info.value.args[0]


def test_a_member_differing_only_in_case_is_answered_with_the_request_id():
    with pytest.raises(FramingError) as info:
        parse(b'{"jsonrpc":"2.0","id":7,"method":"tools/list","Method":"tools/call"}', "client")
    assert info.value.args[1] == 7


def test_bool_id_is_not_an_integer_id():
    with pytest.raises(FramingError):
        parse(b'{"jsonrpc":"2.0","id":true,"method":"m"}', "client")


def test_repr_never_shows_the_body():
    m = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{"k":"SECRETVALUE"}}}', "client")
    assert "SECRETVALUE" not in repr(m)


def test_error_response_shape():
    obj = orjson.loads(error_response(7, codes.DENIED, "no", {"rule": "r"}))
    assert obj == {"jsonrpc": "2.0", "id": 7, "error": {"code": -31001, "message": "no", "data": {"rule": "r"}}}


def test_gateway_codes_are_outside_the_reserved_range():
    assert all(not (-32768 <= c <= -32000) for c in codes.GATEWAY_CODES)
