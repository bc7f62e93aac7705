"""`_codec.lone_model`: a /compat body's lone top-level "model" string, its place and the
stream flag, read in one pass (rust/src/json_fields.rs, held there to serde and fuzzed);
here held to what orjson decodes."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw._codec import lone_model, splice

values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=12,
)
# Top-level keys written without escapes (a key spelled with escapes sends a body the slow way),
# and without lone surrogates (orjson cannot write those: no body to test).
plain_keys = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs",), blacklist_characters='"\\'), max_size=6)
bodies = st.dictionaries(plain_keys | st.sampled_from(["stream", "messages"]), values, max_size=5)


@given(bodies, st.text(max_size=12))
def test_the_lone_model_its_literal_and_the_stream_flag_are_what_orjson_reads(doc, model):
    body = orjson.dumps({**doc, "model": model})
    stream, found, start, end = lone_model(body)
    assert found == model and orjson.loads(body[start:end]) == model
    assert stream is (orjson.loads(body).get("stream") is True)


@given(bodies, st.text(max_size=12), st.text(max_size=12))
def test_writing_another_literal_over_the_span_changes_the_model_only(doc, model, other):
    body = orjson.dumps({**doc, "model": model})
    _, _, start, end = lone_model(body)
    assert orjson.loads(body[:start] + orjson.dumps(other) + body[end:]) == {**orjson.loads(body), "model": other}


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": []}',  # no model
        b'{"model": 7}',  # not a string
        b'{"model": "a", "model": "b"}',  # more than one
        b'{"mod\\u0065l": "a"}',  # a key spelled with escapes
        b'[{"model": "a"}]',  # not an object
        b'{"model": "a"',  # not whole
        b'{"model": "a", "t": "\\ud800"}',  # a lone surrogate orjson refuses
        b'{"model": "a", "n": 1e400}',  # a number that overflows a double
    ],
)
def test_a_body_not_read_in_one_pass_gives_none(body):
    assert lone_model(body) is None


@given(st.binary(max_size=40), st.data(), st.binary(max_size=12))
def test_splice_is_the_body_with_the_span_replaced(body, data, insert):
    start = data.draw(st.integers(0, len(body)))
    end = data.draw(st.integers(start, len(body)))
    assert splice(body, start, end, insert) == body[:start] + insert + body[end:]


@pytest.mark.parametrize("start,end", [(3, 2), (0, 9), (9, 9)])
def test_splice_refuses_a_span_outside_the_body(start, end):
    with pytest.raises(ValueError, match="not within 8 bytes"):
        splice(b"01234567", start, end, b"x")
