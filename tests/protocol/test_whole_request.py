"""The reader's usual request, taken and made in one native call (`_codec.take_whole_request`),
is the request the reader's general path makes from the same bytes (`next_event`: the head by
`Request(...)`, then the body), and leaves the same bytes behind."""

from __future__ import annotations

from hypothesis import given, strategies as st

from aigw.protocol.http11 import END_OF_MESSAGE, Request, RequestReader

SLOTS = [name for name in Request.__slots__ if name != "headers"]
CLIENT = ("127.0.0.1", 1)

targets = st.one_of(
    st.sampled_from(["/", "/v1/a/b/openai/chat/completions", "/x?y=1&z", "/caf%C3%A9?q=%20", "/a%2Fb", "/%zz?", "/?only", "/%E9"]),
    st.text(alphabet="/%?&=abc2F", max_size=12).map(lambda t: "/" + t),
)
connections = st.sampled_from([None, "close", "keep-alive", "Keep-Alive, upgrade", "CLOSE"])


def _reader(data: bytes, tls: bool) -> RequestReader:
    reader = RequestReader(max_head_size=16384, max_headers=100, max_body_size=1 << 20, client=CLIENT, tls=tls)
    reader.feed(data)
    return reader


def _by_events(reader: RequestReader) -> Request:
    request = reader.next_event()
    assert isinstance(request, Request)
    parts = []
    while (event := reader.next_event()) is not END_OF_MESSAGE:
        assert isinstance(event, bytes)
        parts.append(event)
    request.body = b"".join(parts)
    return request


@given(
    st.sampled_from(["GET", "POST", "HEAD", "PUT"]),
    targets,
    st.sampled_from(["1.0", "1.1"]),
    connections,
    st.binary(max_size=40),
    st.booleans(),
    st.binary(max_size=20),
)
def test_the_usual_request_is_the_one_the_general_path_makes(method, target, version, connection, body, tls, after):
    head = f"{method} {target} HTTP/{version}\r\nHost: h\r\nX-Many: 1\r\nx-many: 2\r\n"
    if connection is not None:
        head += f"Connection: {connection}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    data = head.encode() + b"\r\n" + body + after
    fast, general = _reader(data, tls), _reader(data, tls)
    made = fast.next_request()
    expected = _by_events(general)
    assert type(made) is Request
    assert {name: getattr(made, name) for name in SLOTS} == {name: getattr(expected, name) for name in SLOTS}
    assert list(made.headers) == list(expected.headers)
    assert made.headers.get_all("x-many") == ["1", "2"]
    assert made.subprotocols is not expected.subprotocols
    assert fast.take_remaining() == general.take_remaining() == after


def test_a_request_whose_body_is_still_arriving_is_framed_by_the_general_path():
    reader = _reader(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\nabc", tls=False)
    assert reader.next_request() is None
    assert reader.in_body
    reader.feed(b"def")
    assert reader.next_request().body == b"abcdef"


def test_a_chunked_request_is_framed_by_the_general_path():
    reader = _reader(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", tls=False)
    assert reader.next_request().body == b"abc"


def test_a_head_that_arrives_in_pieces_is_read_once_whole():
    data = b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n"
    reader = _reader(b"", tls=False)
    for i in range(len(data)):
        reader.feed(data[i : i + 1])
        request = reader.next_request()
        assert (request is None) == (i < len(data) - 1)
    assert request.path == "/x"
    assert reader.buffered == 0
