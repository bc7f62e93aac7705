"""Anthropic usage is read from a whole Messages answer by the Rust codec
(`_codec.anthropic_usage`) with exactly the rules of the Python reader it replaced
(`anthropic_usage` over the decoded document), without decoding the rest of the answer."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from usage_documents import answers

from aigw import _codec
from aigw.builtins.providers.anthropic import AnthropicProvider, anthropic_usage
from aigw.providers import loads_or_none
from aigw.types import Usage

# Counts kept small enough that their sum stays within i64 (beyond it Rust counts nothing).
COUNT_INT = st.integers(min_value=-(2**61), max_value=2**61)
KEYS = ["input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens", "prompt_tokens"]
document = answers(KEYS, ["id", "content", "model", "usage", "type"], COUNT_INT)


def reference(body: bytes) -> Usage | None:
    doc = loads_or_none(body)
    return anthropic_usage(doc.get("usage")) if isinstance(doc, dict) else None


@settings(max_examples=500, deadline=None)
@given(document)
def test_rust_reads_usage_as_the_python_reference_does(doc):
    body = orjson.dumps(doc)
    pair = _codec.anthropic_usage(body)
    assert (None if pair is None else Usage(*pair)) == reference(body)


def test_a_messages_answer_counts_cache_tokens_as_input():
    body = b'{"id":"msg_1","type":"message","content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":2,"output_tokens":7}}'
    assert AnthropicProvider.usage_from_body(AnthropicProvider.__new__(AnthropicProvider), body) == Usage(17, 7)


def test_not_json_reports_no_usage():
    assert AnthropicProvider.usage_from_body(AnthropicProvider.__new__(AnthropicProvider), b"<html>") is None


def test_a_memoryview_body_is_read_by_the_python_reader():
    body = memoryview(b'{"usage":{"input_tokens":1,"output_tokens":2}}')
    assert AnthropicProvider.usage_from_body(AnthropicProvider.__new__(AnthropicProvider), body) == Usage(1, 2)
