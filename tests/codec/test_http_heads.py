"""parse_request_head / parse_response_head / relayed_headers through the Python binding (RFC 9112)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw._codec import HttpParseError, parse_request_head, parse_response_head, relayed_headers


def status_of(data: bytes, **kw) -> int:
    with pytest.raises(HttpParseError) as e:
        parse_request_head(data, **kw)
    assert isinstance(e.value, ValueError)
    return e.value.args[0]


def test_request_head_fields_and_consumed_length():
    data = b"GET /chat?x=1 HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Key:  k== \r\n\r\nrest"
    method, target, minor, headers, consumed = parse_request_head(data)
    assert (method, target, minor) == ("GET", "/chat?x=1", 1)
    assert headers == [(b"host", b"a"), (b"upgrade", b"websocket"), (b"sec-websocket-key", b"k==")]
    assert data[consumed:] == b"rest"


def test_incomplete_heads_return_none_and_accept_memoryview_and_bytearray():
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert parse_request_head(data[:-1]) is None
    assert parse_request_head(bytearray(data))[4] == len(data)
    assert parse_request_head(memoryview(data))[4] == len(data)


def test_start_hint_resumes_the_search_on_a_growing_buffer():
    data = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    buf = bytearray()
    result = None
    for i in range(len(data)):
        hint = len(buf)
        buf += data[i : i + 1]
        result = parse_request_head(buf, start_hint=hint)
    assert result is not None and result[4] == len(data)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),  # bare LF
        (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400),  # bare CR
        (b"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", 400),  # obs-fold
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),  # whitespace before colon
        (b"G@T / HTTP/1.1\r\n\r\n", 400),  # method not a token
        (b"GET / HTTP/1.1\r\nA: \x01\r\n\r\n", 400),  # control byte in a value
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET / HTTP/1.1.1\r\n\r\n", 400),
    ],
)
def test_malformed_requests_are_rejected_with_the_right_status(data, status):
    assert status_of(data) == status


def test_limits_map_to_414_and_431():
    assert status_of(b"GET /" + b"a" * 200, max_size=100, max_target=50) == 414
    assert status_of(b"GET / HTTP/1.1\r\nA: " + b"a" * 200, max_size=100) == 431
    assert status_of(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", max_headers=1) == 431


def test_leading_empty_lines_before_the_request_line_are_skipped():
    assert parse_request_head(b"\r\n\r\nGET / HTTP/1.0\r\n\r\n")[:3] == ("GET", "/", 0)


def test_response_head_with_latin1_reason_and_bare_lf():
    data = b"HTTP/1.1 404 Nicht gef\xfcnden\nA: b\n\nX"
    status, reason, minor, headers, consumed = parse_response_head(data)
    assert (status, reason, minor, headers) == (404, "Nicht gefünden", 1, [(b"a", b"b")])
    assert data[consumed:] == b"X"


def test_broken_response_heads_carry_502():
    with pytest.raises(HttpParseError) as e:
        parse_response_head(b"HTTP/1.1 OK\r\n\r\n")
    assert e.value.args[0] == 502


def test_relayed_headers_drop_the_hops_own_fields_and_cf_aig_ones():
    raw = [(b"content-type", b"application/json"), (b"content-length", b"9"), (b"connection", b"keep-alive"),
           (b"x-request-id", b"caf\xe9"), (b"cf-aig-log-id", b"spoofed"), (b"Content-Encoding", b"gzip")]  # fmt: skip
    assert relayed_headers(raw) == ([("content-type", "application/json"), ("x-request-id", "café")], True)


def test_relayed_headers_take_str_pairs_and_say_when_there_is_no_content_type():
    assert relayed_headers([("X-Upstream", "1"), ("Transfer-Encoding", "chunked")]) == ([("X-Upstream", "1")], False)


NOT_RELAYED = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authenticate", "proxy-connection",
               "content-length", "content-encoding"}  # fmt: skip


def relayed_by_the_rule(raw) -> tuple[list, bool]:
    """The rule in Python: each field as text (bytes as ISO-8859-1), names keeping their case,
    minus the hop's own (any case) and cf-aig-*; whether a content-type is among them."""
    text = [(n.decode("latin-1") if isinstance(n, bytes) else n, v.decode("latin-1") if isinstance(v, bytes) else v) for n, v in raw]
    kept = [(n, v) for n, v in text if n.lower() not in NOT_RELAYED and not n.lower().startswith("cf-aig-")]
    return kept, any(n.lower() == "content-type" for n, _ in kept)


NAMES = st.sampled_from(["content-type", "Content-Type", "date", "DATE", "x-request-id", "TE", "te", "cf-aig-step", "CF-AIG-x",
                         "cf-aig", "server", "x-caf\xe9", "connection", "proxy-connection", "content-lengthy"])  # fmt: skip


@given(st.lists(st.tuples(NAMES, st.binary(max_size=6), st.booleans()), max_size=8))
def test_relayed_headers_follow_the_rule_for_bytes_and_str_fields(fields):
    raw = [(n.encode("latin-1"), v) if as_bytes else (n, v.decode("latin-1")) for n, v, as_bytes in fields]
    assert relayed_headers(raw) == relayed_by_the_rule(raw)
