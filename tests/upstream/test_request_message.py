"""The usual upstream request is written whole in Rust (`_codec.request_message`): byte for
byte what the Python head builder writes, and None (the Python builder decides) for anything
unusual."""

from hypothesis import example, given
from hypothesis import strategies as st

from aigw import _codec
from aigw.upstream.client import UpstreamClient

TEXT = st.sampled_from(["a", "content-type", "Host", "CONNECTION", "transfer-encoding", "content-length", "x-é", "€", "a\r\nb", "v\n", ""]) | st.text(max_size=4)
FIELD = TEXT | TEXT.map(lambda t: t.encode("utf-8"))
METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "X-CUSTOM", "GET /", "", "PÖST"])


def python_message(method, headers, body) -> bytes | None:
    client = UpstreamClient()
    try:
        head = client._head(method, b"/p", b"h", headers, body)
    except ValueError:
        return None
    return head if not body else head + bytes(body)


@given(METHODS, st.lists(st.tuples(FIELD, FIELD), max_size=5), st.none() | st.binary(max_size=8))
@example("POST", [("content-type", "application/json"), ("x-b", b"1")], b"{}")
@example("GET", [("x", "é")], None)
def test_the_native_message_is_the_python_one_or_none(method, headers, body):
    native = _codec.request_message(method, b"/p", b"h", headers, body)
    if native is not None:
        assert native == python_message(method, headers, body)


def test_the_usual_request_is_written_natively():
    headers = [("content-type", "application/json"), ("authorization", "Bearer k")]
    assert _codec.request_message("POST", b"/v1/chat", b"api", headers, b"{}") == (
        b"POST /v1/chat HTTP/1.1\r\nHost: api\r\ncontent-type: application/json\r\nauthorization: Bearer k\r\nContent-Length: 2\r\n\r\n{}"
    )


def test_an_odd_field_is_left_to_python():
    assert _codec.request_message("GET", b"/", b"h", [("x", 1)], None) is None
    assert _codec.request_message("GET", b"/", b"h", [("x", "a", "b")], None) is None
    assert _codec.request_message("GET", b"/", b"h", [["x", "a"]], None) is None
