"""OpenAI-shaped usage is read from a whole answer by the Rust codec (`_codec.openai_usage`)
with exactly the rules of the Python reader it replaced (`openai_usage` over the decoded
document), without decoding the rest of the answer."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from usage_documents import answers

from aigw import _codec
from aigw.providers import HttpProvider, loads_or_none, openai_usage
from aigw.types import Usage

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
document = answers(["prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "total_tokens"], ["id", "choices", "model", "usage", "object"], INT64)


def reference(body: bytes) -> Usage | None:
    doc = loads_or_none(body)
    return openai_usage(doc.get("usage")) if isinstance(doc, dict) else None


@settings(max_examples=500, deadline=None)
@given(document)
def test_rust_reads_usage_as_the_python_reference_does(doc):
    body = orjson.dumps(doc)
    pair = _codec.openai_usage(body)
    assert (None if pair is None else Usage(*pair)) == reference(body)


def test_a_chat_completion_answer():
    body = b'{"id":"c","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":12,"total_tokens":21}}'
    assert HttpProvider.usage_from_body(HttpProvider.__new__(HttpProvider), body) == Usage(9, 12)


def test_not_json_reports_no_usage():
    assert _codec.openai_usage(b"<html>") is None
    assert HttpProvider.usage_from_body(HttpProvider.__new__(HttpProvider), b"not json") is None


def test_a_memoryview_body_is_read_by_the_python_reader():
    assert HttpProvider.usage_from_body(HttpProvider.__new__(HttpProvider), memoryview(b'{"usage":{"input_tokens":1}}')) == Usage(1, None)
