"""A pass-through request's stream flag and model, read in Rust (`_codec.stream_and_model`, as
the provider route calls it) as the Python rule reads them."""

import orjson
from hypothesis import example, given
from hypothesis import strategies as st

from aigw import _codec
from aigw.api.universal_messages import asks_to_stream, model_in_endpoint


def native_reading(endpoint: str, query: str, headers: dict, body: bytes) -> tuple[bool, str | None]:
    """The provider route's call."""
    return _codec.stream_and_model(endpoint, query, headers.get("content-type", "json"), body)


def python_rule(endpoint: str, query: str, headers: dict, body: bytes) -> tuple[bool, str | None]:
    """The rule as Python wrote it before it moved to Rust."""
    asked, model = False, None
    if body[:1] == b"{" and (b'"stream"' in body or b'"model"' in body) and "json" in headers.get("content-type", "json"):
        asked, model = _codec.body_fields(body) or (False, None)
    stream = asked or asks_to_stream(endpoint) or "alt=sse" in query or endpoint.endswith(("-stream", "/stream"))
    return stream, model if model is not None else model_in_endpoint(endpoint)


ENDPOINTS = st.sampled_from(
    ["chat/completions", "v1beta/models/gemini:streamGenerateContent", "models//models/x?y", "models/", "@cf/meta/llama", "a/stream", "b-stream", "models/é:x"]
) | st.text(alphabet="models/:?@cfh-ré", max_size=20)
BODIES = st.sampled_from([b"", b"{}", b"[]", b'{"model":"m"}', b'{"stream":true,"model":"n"}', b'{"stream":1}', b'{"model":', b'{"mo\\u0064el":"e"}']) | st.builds(
    orjson.dumps, st.dictionaries(st.sampled_from(["model", "stream", "x"]), st.none() | st.booleans() | st.text(max_size=3), max_size=3)
)


@given(ENDPOINTS, st.sampled_from(["", "alt=sse", "a=1"]), st.sampled_from([{}, {"content-type": "application/json"}, {"content-type": "text/plain"}]), BODIES)
@example("models/é:x", "", {}, b"{}")
def test_the_native_reading_is_the_python_rule(endpoint, query, headers, body):
    expected = python_rule(endpoint, query, headers, body)
    assert native_reading(endpoint, query, headers, body) == expected
    assert native_reading(endpoint, query, headers, bytearray(body)) == expected  # any bytes-like body
