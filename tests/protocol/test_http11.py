"""HTTP/1.1 server side, bytes in and bytes out: request reading with body limits,
keep-alive rules, error statuses from the head parser, response serialization."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw.protocol.http11 import (
    END_OF_MESSAGE,
    LAST_CHUNK,
    HttpError,
    RequestReader,
    chunk,
    error_response,
    serialize_response_head,
)


def read_all(data: bytes, **limits) -> list:
    reader = RequestReader(**limits)
    reader.feed(data)
    out = []
    while (request := reader.next_request()) is not None:
        out.append(request)
    return out


def test_a_get_request_is_read_with_path_query_and_headers():
    [request] = read_all(b"GET /a%20b?x=1 HTTP/1.1\r\nHost: h\r\nX-Thing: One\r\n\r\n")
    assert (request.method, request.path, request.query, request.http_version) == ("GET", "/a b", "x=1", "1.1")
    assert request.headers["x-thing"] == "One"
    assert request.headers.get("X-THING") == "One"
    assert (b"x-thing", b"One") in request.headers.raw
    assert request.body == b""


def test_a_parsed_request_builds_its_name_index_at_the_first_look_up_by_name():
    [request] = read_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n")
    assert request.headers._map is None
    assert request.headers.get("x-a") == "1" and request.headers._map == {"host": ["h"], "x-a": ["1"]}


def test_the_native_name_index_is_the_one_headers_builds_in_python():
    # Repeated names keep every value in order; obs-text values decode as ISO-8859-1. A tuple
    # of pairs is not what the native index takes: Headers builds that one in Python.
    from aigw.protocol.http11 import Headers

    [request] = read_all(b"GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nAccept: */*\r\nx-a: caf\xe9\r\n\r\n")
    assert Headers(request.headers.raw)._index() == Headers(tuple(request.headers.raw))._index()
    assert request.headers.get_all("x-a") == ["1", "caf\u00e9"]
    assert request.headers.last_values() == {"host": "h", "x-a": "caf\u00e9", "accept": "*/*"}


NAMES = st.sampled_from(["Host", "host", "USER-AGENT", "Content-Type", "content-length-x", "X-Stainless-Os", "x-a", "Via", "traceparent", "x-anything"])
VALUES = st.binary(max_size=12).map(lambda b: bytes(c for c in b if c in b"\t !~" or 0x21 <= c <= 0x7E or c >= 0x80).strip(b" \t"))


@given(st.lists(st.tuples(NAMES, VALUES), max_size=8))
def test_the_parsers_names_and_values_are_the_bytes_sent_lowercased_and_their_latin1_text(fields):
    # Common names come from objects made once per process; all names and values must still
    # be exactly what was sent (names lowercased), and the index what Headers builds itself.
    from aigw.protocol.http11 import Headers

    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    [request] = read_all(b"GET / HTTP/1.1\r\n" + head + b"\r\n")
    assert request.headers.raw == [(name.lower().encode(), value) for name, value in fields]
    assert request.headers.by_name() == Headers(tuple(request.headers.raw))._index()
    for name, value in fields:
        assert value.decode("latin-1") in request.headers.get_all(name)


def test_a_content_length_body_is_read_whole():
    [request] = read_all(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")
    assert request.body == b"hello"


def test_a_body_arriving_in_pieces_completes_the_request_once_whole():
    reader = RequestReader()
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhe")
    assert reader.next_request() is None
    reader.feed(b"llo")
    assert reader.next_request().body == b"hello"


def test_pipelined_requests_are_read_in_order():
    requests = read_all(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    assert [r.path for r in requests] == ["/1", "/2"]


def test_a_body_over_the_limit_is_413():
    with pytest.raises(HttpError) as info:
        read_all(b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", max_body_size=10)
    assert info.value.status == 413


def test_a_chunked_request_body_is_decoded():
    requests = read_all(
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
        b"GET /next HTTP/1.1\r\n\r\n"
    )
    assert [r.body for r in requests] == [b"hello!", b""]
    assert requests[1].path == "/next"


def test_a_chunked_body_arriving_in_pieces_completes_once_whole():
    reader = RequestReader()
    reader.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    assert reader.next_request() is None
    reader.feed(b"lo\r\n0\r\n\r\n")
    assert reader.next_request().body == b"hello"


def test_a_chunked_body_over_the_limit_is_413():
    with pytest.raises(HttpError) as info:
        read_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\nhello world\r\n0\r\n\r\n",
                 max_body_size=10)
    assert info.value.status == 413


def test_a_malformed_chunked_body_is_400():
    with pytest.raises(HttpError) as info:
        read_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
    assert info.value.status == 400


def test_an_unknown_transfer_coding_is_501():
    with pytest.raises(HttpError) as info:
        read_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    assert info.value.status == 501


@pytest.mark.parametrize("value", [b"-1", b"abc", b"1, 2"])
def test_an_invalid_content_length_is_400(value):
    with pytest.raises(HttpError) as info:
        read_all(b"POST / HTTP/1.1\r\nContent-Length: " + value + b"\r\n\r\n")
    assert info.value.status == 400


def test_a_malformed_head_gets_the_parsers_status():
    with pytest.raises(HttpError) as info:
        read_all(b"GET / HTTP/1.1\r\nbad header line\r\n\r\n")
    assert info.value.status == 400


def test_an_oversized_head_is_431():
    with pytest.raises(HttpError) as info:
        read_all(b"GET / HTTP/1.1\r\nX: " + b"a" * 2000 + b"\r\n\r\n", max_head_size=1024)
    assert info.value.status == 431


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"GET / HTTP/1.1\r\n\r\n", True),
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\n\r\n", False),
        (b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", True),
    ],
)
def test_keep_alive_follows_the_version_and_connection_header(head, keep_alive):
    [request] = read_all(head)
    assert request.keep_alive is keep_alive


def test_expect_100_continue_is_signalled_once_before_the_body():
    reader = RequestReader()
    reader.feed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert reader.next_request() is None
    assert reader.take_continue() is True
    assert reader.take_continue() is False
    reader.feed(b"ok")
    assert reader.next_request().body == b"ok"


def test_remaining_bytes_after_a_request_are_handed_over():
    reader = RequestReader()
    reader.feed(b"GET / HTTP/1.1\r\n\r\n\x81\x85")
    reader.next_request()
    assert reader.take_remaining() == b"\x81\x85"


def test_a_response_with_a_body_has_content_length():
    head = serialize_response_head(200, [("content-type", "text/plain")], content_length=3)
    assert head == b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\n"


def test_a_streamed_response_is_chunked_and_app_framing_headers_are_dropped():
    head = serialize_response_head(200, [("Content-Length", "9")], chunked=True, close=True)
    assert head == b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    assert chunk(b"hello") + LAST_CHUNK == b"5\r\nhello\r\n0\r\n\r\n"


def test_an_empty_chunk_is_not_emitted():
    assert chunk(b"") == b""


def test_header_injection_is_refused():
    with pytest.raises(ValueError):
        serialize_response_head(200, [("x", "a\r\nset-cookie: evil")])


def test_a_head_is_iso_8859_1_and_refuses_what_it_cannot_spell():
    assert serialize_response_head(200, [("x-name", "caf\u00e9")]) == b"HTTP/1.1 200 OK\r\nx-name: caf\xe9\r\n\r\n"
    with pytest.raises(ValueError, match="ISO-8859-1"):
        serialize_response_head(200, [("x-name", "\u2028")])


def test_error_responses_close_the_connection():
    response = error_response(426, "upgrade required", [("sec-websocket-version", "13")])
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"connection: close\r\n" in response
    assert b"sec-websocket-version: 13\r\n" in response


# -- next_event: heads first, bodies as they arrive ----------------------------------------------


def events_of(reader: RequestReader) -> list:
    out = []
    while (event := reader.next_event()) is not None:
        out.append(event)
    return out


def test_a_head_comes_out_before_its_body():
    reader = RequestReader()
    reader.feed(b"POST /up HTTP/1.1\r\nContent-Length: 10\r\n\r\nhel")
    head, first = events_of(reader)
    assert head.path == "/up" and reader.has_body and first == b"hel"
    reader.feed(b"lo worl")
    assert events_of(reader) == [b"lo worl", END_OF_MESSAGE]
    assert not reader.in_body


def test_a_chunked_body_comes_out_decoded_piece_by_piece():
    reader = RequestReader()
    reader.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    head, first = events_of(reader)
    assert first == b"hello"
    reader.feed(b"1\r\n!\r\n0\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
    rest = events_of(reader)
    assert rest[:2] == [b"!", END_OF_MESSAGE]
    assert rest[2].path == "/next" and rest[3] is END_OF_MESSAGE


def test_a_streamed_chunked_body_over_the_limit_is_413():
    reader = RequestReader(max_body_size=8)
    reader.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    events_of(reader)
    reader.feed(b"5\r\nworld\r\n")
    with pytest.raises(HttpError) as info:
        events_of(reader)
    assert info.value.status == 413


def test_a_request_without_a_body_ends_right_after_its_head():
    reader = RequestReader()
    reader.feed(b"GET / HTTP/1.1\r\n\r\n")
    head = reader.next_event()
    assert not reader.has_body
    assert reader.next_event() is END_OF_MESSAGE


async def test_a_streamed_request_body_is_read_through_its_source():
    class Source:
        def __init__(self, pieces):
            self.pieces = list(pieces)

        def __aiter__(self):
            return self

        async def __anext__(self):
            if not self.pieces:
                raise StopAsyncIteration
            return self.pieces.pop(0)

    reader = RequestReader()
    reader.feed(b"POST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n")
    request = reader.next_event()
    request.attach_body(Source([b"abc", b"def"]))
    with pytest.raises(RuntimeError):
        request.body
    assert await request.read() == b"abcdef"
    assert request.body == b"abcdef"
    assert [piece async for piece in request.stream()] == [b"abcdef"]


_CONNECTION_VALUES = ["close", "Close", " keep-alive ", "upgrade, close", "keep-alive,\xa0close\xa0", "closed", "keep-alive"]


@settings(max_examples=300, deadline=None)
@given(
    minor=st.sampled_from([0, 1, 2]),
    connection=st.lists(st.sampled_from(_CONNECTION_VALUES), max_size=2),
    body=st.binary(max_size=40),
    lengths=st.sampled_from(["plain", "none", "repeated", "padded", "differ"]),
    trailing=st.sampled_from([b"", b"GET /next HTTP/1.1\r\n\r\n", b"GE"]),
)
def test_a_request_read_whole_is_the_request_read_byte_by_byte(minor, connection, body, lengths, trailing):
    """A request whose body is all here takes the parser's whole-request path; fed a byte at a
    time it is framed field by field. Both read the same request (or the same error), and
    leave the same bytes for the next one."""
    fields = [f"Connection: {v}".encode("latin-1") for v in connection]
    n = str(len(body)).encode()
    fields += {"plain": [b"Content-Length: " + n], "none": [], "repeated": [b"Content-Length: " + n] * 2,
               "padded": [b"Content-Length: 00" + n], "differ": [b"Content-Length: " + n, b"Content-Length: 99"]}[lengths]  # fmt: skip
    if lengths == "none":
        body = b""
    data = b"POST /p?q=1 HTTP/1.%d\r\n" % minor + b"".join(f + b"\r\n" for f in fields) + b"\r\n" + body + trailing

    def outcome(pieces: list[bytes]):
        reader = RequestReader(max_body_size=64)
        try:
            request = None
            for piece in pieces:
                reader.feed(piece)
                if request is None:
                    request = reader.next_request()
        except HttpError as e:
            return ("error", e.status)
        if request is None:
            return None
        seen = (request.method, request.target, request.http_version, request.headers.raw, request.headers.by_name(), request.body, request.keep_alive)
        return seen, reader.take_remaining()

    assert outcome([data]) == outcome([data[i : i + 1] for i in range(len(data))])


def test_a_reader_has_nothing_pending_once_it_took_every_whole_request():
    reader = RequestReader()
    assert not reader.pending
    reader.feed(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
    assert reader.pending
    assert reader.next_request().body == b"hi"
    assert not reader.pending


def test_a_reader_has_bytes_pending_after_a_request_with_a_pipelined_one_behind_it():
    reader = RequestReader()
    reader.feed(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HT")
    assert reader.next_request().path == "/a"
    assert reader.pending
    assert reader.next_request() is None
    assert reader.pending


def test_a_reader_has_a_body_pending_while_it_is_read():
    reader = RequestReader()
    reader.feed(b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\n")
    assert reader.next_request() is None  # the head is in; the body is not
    assert reader.pending and reader.in_body
    reader.feed(b"body")
    assert reader.next_request().body == b"body"
    assert not reader.pending
