"""A whole answer's response, built in one native call, is the one `__init__` and `_complete` build."""

from __future__ import annotations

from hypothesis import given, strategies as st

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
def test_whole_response_leaves_every_slot_as_init_then_complete(head):
    status, reason, minor, fields, content_type, body, limit, max_body = head
    built = UpstreamResponse(None, status, reason, minor, fields, None, limit, max_body, content_type)  # type: ignore[arg-type]
    built._complete(body)
    made = whole_response(status, reason, minor, Headers(fields), content_type, [body] if body else [], len(body), limit, max_body)
    assert type(made) is UpstreamResponse and type(made.headers) is Headers
    for name in SLOTS:
        assert getattr(made, name) == getattr(built, name), name


@given(st.binary(max_size=64))
def test_a_whole_response_reads_its_body_once_without_waiting(body):
    made = whole_response(200, "OK", 1, Headers([]), "application/json", [body] if body else [], len(body), 65536, 1 << 20)
    assert made.complete and made.read_now() == body and made.read_now() is None
