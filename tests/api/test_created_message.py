"""The usual `universal.created` (a whole answer) is written in one native call
(`_codec.created_message`): byte for byte what `created(universal_metadata(answer), body)`
writes with orjson, whatever the client's eventId, the content type, the usage or the body."""

from __future__ import annotations

from types import SimpleNamespace

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aigw import _codec
from aigw.api.universal_messages import created
from aigw.api.universal_ws import WebSocketSink, universal_metadata
from aigw.pipeline import Answer
from aigw.types import Usage

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
bodies = st.one_of(
    st.builds(orjson.dumps, st.recursive(st.none() | st.booleans() | INT64 | st.text(max_size=6),
                                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)),
    st.binary(max_size=40),  # mostly not JSON, often not UTF-8: sent as a JSON string
    st.text(max_size=20).map(str.encode),
)  # fmt: skip
answers = st.builds(
    Answer,
    event_id=st.text(max_size=12),  # the client's: any text, quotes and control characters too
    log_id=st.text(max_size=8),
    step=st.integers(min_value=0, max_value=20),
    status=st.integers(min_value=100, max_value=599),
    content_type=st.text(max_size=12),
    cache_status=st.sampled_from(["MISS", "HIT"]),
    usage=st.none() | st.builds(Usage, st.none() | INT64, st.none() | INT64),
)


def native(answer: Answer, body: bytes) -> bytes:
    usage = answer.usage
    pair = None if usage is None else (usage.tokens_in, usage.tokens_out)
    return _codec.created_message(answer.cache_status, answer.event_id, answer.log_id, answer.step, answer.content_type, answer.status, pair, body)


@settings(max_examples=500, deadline=None)
@given(answers, bodies)
def test_the_native_message_is_the_one_orjson_writes(answer, body):
    assert native(answer, body) == created(universal_metadata(answer), body)


def test_a_count_past_signed_64_bits_is_written_by_python():
    answer = Answer("e1", "l1", 0, 200, "application/json", usage=Usage(2**63, 1))  # orjson writes up to 2**64 - 1
    with pytest.raises(OverflowError):
        native(answer, b"{}")
    sent: list[bytes] = []
    WebSocketSink(SimpleNamespace(send_text=sent.append), "e1").deliver(answer, b"{}")
    assert sent == [created(universal_metadata(answer), b"{}")]


@settings(max_examples=300, deadline=None)
@given(answers, bodies, bodies)
def test_a_body_the_usage_reader_walked_is_written_alike_and_no_other_is_taken_for_it(answer, walked, other):
    # The usage reader remembers the answer it walked whole (created_message then splices it
    # unchecked); any other object, even of the same length, is still checked.
    _codec.openai_usage(walked)
    assert native(answer, walked) == created(universal_metadata(answer), walked)
    assert native(answer, other) == created(universal_metadata(answer), other)
    same_length = bytes(b"x" * len(walked))
    assert native(answer, same_length) == created(universal_metadata(answer), same_length)
