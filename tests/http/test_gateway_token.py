"""`_codec.gateway_token` reads a request's gateway token as the Python reads it
(`bearer_token(headers.get("cf-aig-authorization"))`), or says None and leaves it to the
Python when the value holds bytes the two might trim differently."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aigw import _codec
from aigw.api.gateway_context import bearer_token
from aigw.protocol.http11 import Headers

NAME = b"cf-aig-authorization"
CLEAN = set(range(0x20, 0x7F)) | {0x09}


def python_token(raw: list) -> str | None:
    return bearer_token(Headers(raw).get("cf-aig-authorization"))


values = st.one_of(
    st.binary(max_size=40),
    st.builds(
        lambda lead, scheme, gap, token, trail: lead + scheme + gap + token + trail,
        st.sampled_from([b"", b" ", b"\t", b" \t "]),
        st.sampled_from([b"Bearer", b"bearer", b"BEARER", b"bEaReR", b"Basic", b"Bearerx", b""]),
        st.sampled_from([b" ", b"  ", b"\t", b" \t", b""]),
        st.binary(max_size=24) | st.text(alphabet="abcXYZ019-_.~+/= \t", max_size=24).map(str.encode),
        st.sampled_from([b"", b" ", b"\t", b"\x0b", b"\x1c", b"\xa0"]),
    ),
)


@given(values)
def test_a_clean_value_reads_as_the_python_reads_it(value):
    raw = [(b"content-type", b"application/json"), (NAME, value)]
    native = _codec.gateway_token(raw)
    if all(b in CLEAN for b in value):
        assert native == python_token(raw)
    else:
        assert native is None  # the Python decides


@given(values, values)
def test_the_first_field_is_the_one_read(first, second):
    raw = [(NAME, first), (NAME, second)]
    native = _codec.gateway_token(raw)
    assert native is None or native == python_token(raw)
    if all(b in CLEAN for b in first):
        assert native == python_token([(NAME, first)])


def test_no_field_or_pairs_that_are_not_bytes_read_as_none():
    assert _codec.gateway_token([(b"authorization", b"Bearer sk")]) is None
    assert _codec.gateway_token([("cf-aig-authorization", "Bearer t")]) is None
    assert _codec.gateway_token(((NAME, b"Bearer t"),)) is None  # not the parser's list
    assert _codec.gateway_token([(NAME, b"Bearer t")]) == "t"
