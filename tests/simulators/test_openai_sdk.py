"""The official openai SDK parses everything the OpenAI simulator sends, stream and not."""

from __future__ import annotations

import base64
import struct

import openai
import pytest
from aigw.testing.simulators import OpenAISimulator, count_tokens, embedding_vector

PROMPT = "the quick brown fox jumps over the lazy dog"


@pytest.fixture
def client(aigw_sim_openai: OpenAISimulator) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=aigw_sim_openai.key, base_url=aigw_sim_openai.base_url(), max_retries=0
    )


def test_chat_non_stream_echoes_prompt_with_word_usage(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": PROMPT}],
    )
    assert completion.choices[0].message.content == PROMPT
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 9)
    assert completion.usage.total_tokens == 20


def test_chat_stream_with_include_usage_ends_in_a_usage_chunk(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    aigw_sim_openai.chunks = 4
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == PROMPT
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 4
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == count_tokens(
        PROMPT
    )
    assert all(c.usage is None for c in chunks[:-1])


def test_chat_stream_without_include_usage_has_no_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    chunks = list(stream)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_max_tokens_truncates_reply_with_finish_reason_length(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}], max_tokens=3
    )
    assert completion.choices[0].message.content == "the quick brown"
    assert completion.choices[0].finish_reason == "length"


def test_responses_non_stream(client: openai.OpenAI) -> None:
    response = client.responses.create(model="gpt-4.1-mini", input=PROMPT, instructions="be brief")
    assert response.output_text == PROMPT
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 9)


def test_responses_stream_helper_gives_final_response_with_usage(client: openai.OpenAI) -> None:
    with client.responses.stream(model="gpt-4.1-mini", input=PROMPT) as stream:
        deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert "".join(deltas) == PROMPT
    assert final.output_text == PROMPT
    assert final.usage is not None and final.usage.output_tokens == 9


def test_responses_raw_stream_events_are_ordered(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="gpt-4.1-mini", input=PROMPT, stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"


def test_embeddings_default_base64_decodes_to_the_deterministic_vector(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    result = client.embeddings.create(model="text-embedding-3-small", input=["hello world", "bye"])
    assert aigw_sim_openai.last_request.json()["encoding_format"] == "base64"
    assert [d.embedding for d in result.data] == [
        embedding_vector("hello world"),
        embedding_vector("bye"),
    ]
    assert result.usage.prompt_tokens == 3


def test_embeddings_float_format_and_dimensions(client: openai.OpenAI) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input="hello", encoding_format="float", dimensions=4
    )
    assert result.data[0].embedding == embedding_vector("hello", 4)


def test_embeddings_base64_is_little_endian_float32() -> None:
    from aigw.testing.simulators._text import embedding_base64

    vector = embedding_vector("x", 3)
    assert struct.unpack("<3f", base64.b64decode(embedding_base64(vector))) == tuple(vector)


def test_bad_key_raises_authentication_error(aigw_sim_openai: OpenAISimulator) -> None:
    client = openai.OpenAI(
        api_key="sk-wrong-key", base_url=aigw_sim_openai.base_url(), max_retries=0
    )
    with pytest.raises(openai.AuthenticationError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    assert info.value.code == "invalid_api_key"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_fail_next_raises_the_matching_sdk_exception(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator, status: int, exception: type[Exception]
) -> None:
    aigw_sim_openai.fail_next(status)
    with pytest.raises(exception):
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])


def test_rate_limit_carries_retry_after_and_ratelimit_headers(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    aigw_sim_openai.fail_next(429)
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    headers = info.value.response.headers
    assert headers["retry-after"] == "1"
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_fails_twice_then_succeeds_through_sdk_retries(aigw_sim_openai: OpenAISimulator) -> None:
    aigw_sim_openai.retry_after = 0.01
    aigw_sim_openai.fail_next(429, count=2)
    client = openai.OpenAI(
        api_key=aigw_sim_openai.key, base_url=aigw_sim_openai.base_url(), max_retries=2
    )
    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    )
    assert completion.choices[0].message.content == "hi"
    assert len(aigw_sim_openai.requests) == 3


def test_mid_stream_error_raises_api_error_in_chat_stream(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    aigw_sim_openai.fault_next("error", after=1)
    stream = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": PROMPT}], stream=True
    )
    with pytest.raises(openai.APIError, match="Simulated mid-stream error"):
        list(stream)


def test_mid_stream_error_event_in_responses_stream(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    aigw_sim_openai.fault_next("error", after=1)
    events = list(client.responses.create(model="m", input=PROMPT, stream=True))
    assert events[-1].type == "error"
    assert events[-1].message == "Simulated mid-stream error"


def test_recording_shows_what_the_client_sent(
    client: openai.OpenAI, aigw_sim_openai: OpenAISimulator
) -> None:
    client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-trace": "t1"}
    )
    request = aigw_sim_openai.last_request
    assert (request.method, request.path) == ("POST", "/v1/chat/completions")
    assert request.headers["authorization"] == f"Bearer {aigw_sim_openai.key}"
    assert request.headers["X-Trace"] == "t1"
    assert "cf-aig-authorization" not in request.headers
    assert request.json()["messages"] == [{"role": "user", "content": "hi"}]
