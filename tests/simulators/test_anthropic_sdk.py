"""The official anthropic SDK parses the Anthropic simulator, stream and not, and its errors."""

from __future__ import annotations

import json

import aiohttp
import anthropic
import pytest
from aigw.testing.simulators import AnthropicSimulator

from .conftest import data_frames

PROMPT = "a stitch in time saves nine"
MESSAGES = [{"role": "user", "content": PROMPT}]


@pytest.fixture
def client(aigw_sim_anthropic: AnthropicSimulator) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=aigw_sim_anthropic.key, base_url=aigw_sim_anthropic.base_url(), max_retries=0
    )


def test_messages_non_stream_echoes_with_usage(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-x", max_tokens=100, system="be brief", messages=MESSAGES
    )
    assert message.content[0].text == PROMPT
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (8, 6)


def test_messages_stream_helper_gives_final_usage(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="claude-x", max_tokens=100, messages=MESSAGES) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == PROMPT
    assert final.usage.input_tokens == 6
    assert final.usage.output_tokens == 6
    assert final.stop_reason == "end_turn"


def test_raw_stream_has_named_events_including_ping(client: anthropic.Anthropic) -> None:
    events = [
        e.type
        for e in client.messages.create(model="c", max_tokens=100, messages=MESSAGES, stream=True)
    ]
    assert events[:2] == ["message_start", "content_block_start"]
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert events.count("content_block_delta") == 3


def test_max_tokens_stops_with_max_tokens(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="c", max_tokens=2, messages=MESSAGES)
    assert (message.content[0].text, message.stop_reason) == ("a stitch", "max_tokens")


def test_count_tokens_counts_words(client: anthropic.Anthropic) -> None:
    assert client.messages.count_tokens(model="c", messages=MESSAGES).input_tokens == 6


def test_bearer_auth_of_new_sdks_is_accepted(aigw_sim_anthropic: AnthropicSimulator) -> None:
    client = anthropic.Anthropic(
        auth_token=aigw_sim_anthropic.key, base_url=aigw_sim_anthropic.base_url(), max_retries=0
    )
    assert (
        client.messages.create(model="c", max_tokens=10, messages=MESSAGES).content[0].text
        == "a stitch in time saves nine"
    )
    assert (
        aigw_sim_anthropic.last_request.headers["authorization"]
        == f"Bearer {aigw_sim_anthropic.key}"
    )


async def test_x_api_key_with_any_version_is_accepted_and_missing_version_is_400(
    aigw_sim_anthropic: AnthropicSimulator,
) -> None:
    url = aigw_sim_anthropic.base_url() + "/v1/messages"
    body = {"model": "c", "max_tokens": 10, "messages": MESSAGES}
    async with aiohttp.ClientSession() as session:
        headers = {"x-api-key": aigw_sim_anthropic.key, "anthropic-version": "2023-06-01"}
        async with session.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200
        async with session.post(
            url, json=body, headers={"x-api-key": aigw_sim_anthropic.key}
        ) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["type"] == "invalid_request_error"


def test_bad_key_raises_authentication_error(aigw_sim_anthropic: AnthropicSimulator) -> None:
    client = anthropic.Anthropic(
        api_key="sk-ant-wrong", base_url=aigw_sim_anthropic.base_url(), max_retries=0
    )
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="c", max_tokens=10, messages=MESSAGES)
    assert info.value.body["error"]["type"] == "authentication_error"


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, anthropic.BadRequestError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (529, anthropic.OverloadedError),
    ],
)
def test_fail_next_raises_the_matching_sdk_exception(
    client: anthropic.Anthropic,
    aigw_sim_anthropic: AnthropicSimulator,
    status: int,
    exception: type[Exception],
) -> None:
    aigw_sim_anthropic.fail_next(status)
    with pytest.raises(exception):
        client.messages.create(model="c", max_tokens=10, messages=MESSAGES)


def test_overloaded_and_rate_limited_carry_retry_after(
    client: anthropic.Anthropic, aigw_sim_anthropic: AnthropicSimulator
) -> None:
    for status in (429, 529):
        aigw_sim_anthropic.fail_next(status)
        with pytest.raises(anthropic.APIStatusError) as info:
            client.messages.create(model="c", max_tokens=10, messages=MESSAGES)
        assert info.value.response.headers["retry-after"] == "1"


def test_stream_raises_on_overloaded_529(
    client: anthropic.Anthropic, aigw_sim_anthropic: AnthropicSimulator
) -> None:
    aigw_sim_anthropic.fail_next(529)
    with pytest.raises(anthropic.OverloadedError):
        with client.messages.stream(model="c", max_tokens=10, messages=MESSAGES) as stream:
            stream.get_final_message()


def test_mid_stream_error_event_raises(
    client: anthropic.Anthropic, aigw_sim_anthropic: AnthropicSimulator
) -> None:
    aigw_sim_anthropic.fault_next("error", after=1)
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        with client.messages.stream(model="c", max_tokens=10, messages=MESSAGES) as stream:
            stream.get_final_message()


async def test_usage_sits_in_message_start_and_message_delta(
    aigw_sim_anthropic: AnthropicSimulator,
) -> None:
    url = aigw_sim_anthropic.base_url() + "/v1/messages"
    headers = {"x-api-key": aigw_sim_anthropic.key, "anthropic-version": "2023-06-01"}
    body = {"model": "c", "max_tokens": 10, "messages": MESSAGES, "stream": True}
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            raw = await resp.read()
    events = [json.loads(d) for d in data_frames(raw)]
    assert events[0]["message"]["usage"]["input_tokens"] == 6
    assert events[0]["message"]["usage"]["output_tokens"] == 1
    assert [e for e in events if e["type"] == "message_delta"][0]["usage"]["output_tokens"] == 6
    assert all(frame.startswith(b"event: ") for frame in raw.split(b"\n\n") if frame)
