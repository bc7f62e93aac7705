"""A whole answer's response, built in one native call, is the one `__init__` then the body
fed and ended build; `take_whole_response` parses an answer and makes it in one call when it came whole."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from aigw._codec import HttpParseError, parse_response_head, take_whole_response
from aigw.upstream.response import Headers, UpstreamResponse, whole_response

SLOTS = [name for name in UpstreamResponse.__slots__ if name != "__weakref__"]

heads = st.tuples(
    st.integers(200, 599),
    st.text(max_size=12),
    st.integers(0, 1),
    st.lists(st.tuples(st.binary(min_size=1, max_size=8), st.binary(max_size=8)), max_size=4),
    st.text(max_size=20),
    st.binary(max_size=64),
    st.integers(1, 1 << 20),
    st.integers(1, 1 << 24),
)


@given(heads)
def test_whole_response_leaves_every_slot_as_init_then_the_body_fed_and_ended(head):
    status, reason, minor, fields, content_type, body, limit, max_body = head
    built = UpstreamResponse(None, status, reason, minor, fields, None, limit, max_body, content_type)  # type: ignore[arg-type]
    if body:
        built._feed(body)
    built._feed_eof()
    made = whole_response(status, reason, minor, Headers(fields), content_type, [body] if body else [], len(body), limit, max_body)
    assert type(made) is UpstreamResponse and type(made.headers) is Headers
    for name in SLOTS:
        assert getattr(made, name) == getattr(built, name), name


@given(st.binary(max_size=64))
def test_a_whole_response_reads_its_body_once_without_waiting(body):
    made = whole_response(200, "OK", 1, Headers([]), "application/json", [body] if body else [], len(body), 65536, 1 << 20)
    assert made.complete and made.read_now() == body and made.read_now() is None


WHOLE = [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", True, None),
    (b"HTTP/1.1 503 Busy\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}", True, None),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", False, None),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=1\r\n\r\nhello", True, b"timeout=1"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello", False, None),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", True, None),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=\xe9\r\ncontent-type: text/html\r\nContent-Length: 5\r\n\r\nhello", True, None),
]
NOT_WHOLE = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",  # the body still arriving
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello!",  # a stray byte after it
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\n\r\nuntil close",
]


def _take(data: bytes, decode: bool = True):
    return take_whole_response(data, 65536, 0, decode, whole_response, Headers, 65536, 1 << 20)


@pytest.mark.parametrize("data, reusable, keep_alive", WHOLE)
def test_a_whole_answer_is_taken_as_the_response_its_head_and_body_make(data, reusable, keep_alive):
    status, reason, minor, fields, consumed, framing = parse_response_head(data, 65536, framing=True)
    resp, got_reusable, got_keep_alive = _take(data)
    body = data[consumed:]
    expected = whole_response(status, reason, minor, Headers(fields), framing[6], [body] if body else [], len(body), 65536, 1 << 20)
    assert type(resp) is UpstreamResponse and type(resp.headers) is Headers
    for name in SLOTS:
        assert getattr(resp, name) == getattr(expected, name), name
    assert (got_reusable, got_keep_alive) == (reusable, keep_alive)


@pytest.mark.parametrize("data", NOT_WHOLE)
def test_any_other_answer_gets_the_head_parse_response_head_gives(data):
    assert _take(data) == parse_response_head(data, 65536, framing=True)


def test_an_encoded_answer_is_whole_only_when_the_client_does_not_decode():
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxx"
    assert len(_take(data, decode=True)) == 6
    assert _take(data, decode=False)[0].read_now() == b"xx"


@pytest.mark.parametrize("cut", [1, 10, 20])
def test_a_head_not_all_here_is_none(cut):
    assert _take(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"[:cut]) is None


def test_a_malformed_head_raises():
    with pytest.raises(HttpParseError):
        _take(b"HTTP/1.1 2x0 OK\r\n\r\n")
