"""How the HTTP doors split a request's headers: in one native pass into `CheckedHeaders` when
they are as the server's parser yields them, else in Python into plain dicts that the pipeline
checks as it checks a Universal step's headers. Either way the split is the same."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aigw.api.http_routes import client_hop_headers
from aigw.protocol.http11 import Headers, Request, RequestReader
from aigw.validation import CheckedHeaders, header_fields

HEAD = (
    b"POST /v1/acct/gw/openai/chat/completions HTTP/1.1\r\n"
    b"Host: gateway\r\n"
    b"Authorization: Bearer sk-client\r\n"
    b"Connection: keep-alive, X-Hop\r\n"
    b"X-Hop: only for this hop\r\n"
    b"Proxy-Authorization: Basic abc\r\n"
    b"CF-AIG-Metadata: {\"user\": 1}\r\n"
    b"cf-aig-authorization: Bearer gateway-token\r\n"
    b"X-Repeated: first\r\n"
    b"X-Repeated: last\r\n"
    b"Content-Length: 2\r\n"
    b"\r\n{}"
)


def parsed(raw: bytes = HEAD) -> Request:
    reader = RequestReader()
    reader.feed(raw)
    request = reader.next_request()
    assert request is not None
    return request


def test_parsed_headers_are_split_natively_into_checked_headers():
    provider, options = client_hop_headers(parsed())
    assert type(provider) is CheckedHeaders and type(options) is CheckedHeaders
    assert provider == {"authorization": "Bearer sk-client", "x-repeated": "last"}
    assert options == {"cf-aig-metadata": '{"user": 1}'}


def test_traceparent_goes_to_the_provider_and_is_the_requests_trace_option():
    head = HEAD.replace(b"Host: gateway\r\n", b"Host: gateway\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n")
    provider, options = client_hop_headers(parsed(head))
    assert provider["traceparent"] == options["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_headers_the_native_pass_declines_are_split_in_python_alike():
    # Built by hand (an embedder's Request), not by the parser: a name in capitals, a value
    # with spaces around it. The split is the same, as plain dicts the pipeline will check.
    request = Request("POST", "/", "1.1", Headers([(b"Authorization", b" Bearer sk-client "), (b"cf-aig-metadata", b"{}")]))
    provider, options = client_hop_headers(request)
    assert type(provider) is dict and type(options) is dict
    assert (provider, options) == ({"Authorization": " Bearer sk-client "}, {"cf-aig-metadata": "{}"})
    assert header_fields(provider, "request") == {"authorization": "Bearer sk-client"}


def test_checked_headers_are_taken_as_they_are_and_copied():
    checked = CheckedHeaders({"authorization": "Bearer sk-client"})
    fields = header_fields(checked, "step 0")
    assert fields == checked and type(fields) is dict and fields is not checked


def test_the_native_and_python_splits_agree_on_every_parsed_request_of_the_corpus():
    heads = [
        HEAD,
        b"GET /v1/a/g/openai/models HTTP/1.1\r\nHost: g\r\ntraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n",
        b"POST /x HTTP/1.1\r\nConnection: close\r\nTE: trailers\r\nAccept-Encoding: gzip\r\nX-Cafe: caf\xe9\tau lait\r\nContent-Length: 0\r\n\r\n",
    ]
    for head in heads:
        request = parsed(head)
        native = client_hop_headers(request)
        # The same headers built by hand, plus a name in capitals: the native pass declines
        # them all, so they take the Python path.
        raw = [*request.headers.raw, (b"X-Force-Python", b"1")]
        python = client_hop_headers(Request(request.method, request.target, "1.1", Headers(raw)))
        assert type(python[0]) is dict
        del python[0]["X-Force-Python"]
        assert (dict(native[0]), dict(native[1])) == python


FIELD_NAMES = st.sampled_from(["host", "authorization", "connection", "x-hop", "proxy-authorization", "cf-aig-metadata",
                               "cf-aig-authorization", "traceparent", "te", "keep-alive", "x-repeated", "content-type"])
FIELD_VALUES = st.binary(max_size=10).map(lambda b: bytes(c for c in b if c == 9 or 0x20 <= c <= 0x7E or c >= 0x80).strip(b" \t"))


@given(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES | st.sampled_from([b"x-hop", b"close, X-Hop", b"keep-alive"])), max_size=8))
def test_the_native_split_of_the_parsers_pairs_is_the_python_split(fields):
    head = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in fields)
    request = parsed(b"GET / HTTP/1.1\r\n" + head + b"\r\n")
    native = client_hop_headers(request)
    # A tuple of the same pairs is not what the native pass takes: the Python path splits it.
    python = client_hop_headers(Request("GET", "/", "1.1", Headers(tuple(request.headers.raw))))
    assert type(native[0]) is CheckedHeaders and type(python[0]) is dict
    assert (list(native[0].items()), list(native[1].items())) == (list(python[0].items()), list(python[1].items()))


def test_a_request_split_natively_builds_no_name_index():
    request = parsed()
    client_hop_headers(request)
    assert request.headers._map is None
