"""The official `anthropic` SDK against aigw's anthropic provider route (base URL `…/anthropic`)."""

from __future__ import annotations

import anthropic
import pytest
from doors import anthropic_client

MESSAGE = {"model": "claude-3-5-haiku-latest", "max_tokens": 100}


async def test_a_message_comes_back_whole_with_usage(gateway, sims):
    async with gateway() as gw:
        client = anthropic_client(gw, api_key=sims["anthropic"].key)
        message = await client.messages.create(**MESSAGE, messages=[{"role": "user", "content": "hello claude"}])
    assert message.content[0].text == "hello claude"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (2, 2)
    assert sims["anthropic"].last_request.path == "/v1/messages"


async def test_a_streamed_message_arrives_as_named_events_to_message_stop(gateway, sims):
    async with gateway() as gw:
        client = anthropic_client(gw, api_key=sims["anthropic"].key)
        async with client.messages.stream(**MESSAGE, messages=[{"role": "user", "content": "one two three four"}]) as stream:
            texts = [t async for t in stream.text_stream]
            final = await stream.get_final_message()
    assert "".join(texts) == "one two three four" and len(texts) == 4
    assert final.usage.output_tokens == 4 and final.stop_reason == "end_turn"
    (record,) = gw.records
    assert record.success and record.stream and record.tokens_out == 4


async def test_an_overloaded_anthropic_reaches_the_sdk_as_a_529_server_error(gateway, sims):
    async with gateway() as gw:
        client = anthropic_client(gw, api_key=sims["anthropic"].key)
        with pytest.raises(anthropic.InternalServerError) as caught:
            await client.messages.create(**{**MESSAGE, "model": "claude-sim-fail-529"}, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 529
    assert caught.value.body["error"]["type"] == "overloaded_error"
    overloaded = getattr(anthropic, "OverloadedError", None)
    if overloaded is not None:  # the SDK names 529 since 0.50
        assert isinstance(caught.value, overloaded)
