"""The official `openai` SDK against aigw's openai provider route (http-api.md): its base URL is
the gateway's `…/openai`, everything else as the SDK does it. The SDK always sends its own
`Authorization`, so the client's key is the one the simulator sees."""

from __future__ import annotations

import openai
import pytest
from doors import chat, openai_client


async def test_a_chat_completion_comes_back_as_the_sdk_expects(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        raw = await client.chat.completions.with_raw_response.create(**chat("hello there"))
        answer = raw.parse()
    assert answer.choices[0].message.content == "hello there"
    assert answer.usage.prompt_tokens == 2 and answer.usage.completion_tokens == 2
    assert raw.headers["cf-aig-cache-status"] == "MISS"
    assert raw.headers["cf-aig-log-id"] and raw.headers["cf-aig-event-id"]
    assert "cf-aig-step" not in raw.headers  # only the Universal endpoint says which step
    assert sims["openai"].last_request.path == "/v1/chat/completions"


async def test_a_streamed_chat_completion_arrives_chunk_by_chunk_with_usage_last(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        stream = await client.chat.completions.create(
            **chat("one two three four"), stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) == 4
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    (record,) = gw.records
    assert record.success and record.stream and (record.tokens_in, record.tokens_out) == (4, 4)


async def test_the_responses_api_answers_whole(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        response = await client.responses.create(model="gpt-4o-mini", input="good morning")
    assert response.output_text == "good morning"
    assert sims["openai"].last_request.path == "/v1/responses"


async def test_the_responses_api_streams_typed_events_to_the_end(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        stream = await client.responses.create(model="gpt-4o-mini", input="good morning to you", stream=True)
        events = [event async for event in stream]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "good morning to you"
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.output_tokens == 4


async def test_embeddings_come_back_as_vectors(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        result = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b c"])
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) > 0 and result.data[0].embedding != result.data[1].embedding


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
async def test_a_provider_error_reaches_the_sdk_as_its_own_error_class(gateway, sims, status, error_class):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        with pytest.raises(error_class) as caught:
            await client.chat.completions.create(**chat(model=f"gpt-4o-sim-fail-{status}"))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and "message" in caught.value.body  # OpenAI's own error body
    assert caught.value.response.headers["cf-aig-log-id"]


async def test_a_wrong_client_key_is_the_providers_401_not_the_gateways(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key="sk-wrong")
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(**chat())
    assert caught.value.body.get("code") == "invalid_api_key"
    assert sims["openai"].last_request.headers["authorization"] == "Bearer sk-wrong"


async def test_the_route_with_v1_and_without_reach_the_same_upstream_path(gateway, sims):
    async with gateway() as gw:
        for base in ("/openai", "/openai/v1"):
            client = openai_client(gw, base, api_key=sims["openai"].key)
            answer = await client.chat.completions.create(**chat(f"via {base}"))
            assert answer.choices[0].message.content == f"via {base}"
    assert [r.path for r in sims["openai"].requests] == ["/v1/chat/completions"] * 2


def custom(sims) -> dict:
    """A custom provider in front of the OpenAI simulator's API (no stored key)."""
    return {"custom-x": {"base_url": sims["openai"].base_url()}}


async def test_a_custom_provider_streams_chat_completions_to_the_sdk(gateway, sims):
    async with gateway(providers=custom(sims)) as gw:
        client = openai_client(gw, "/custom-x", api_key=sims["openai"].key)
        whole = await client.chat.completions.create(**chat("whole answer"))
        stream = await client.chat.completions.create(**chat("streamed answer"), stream=True, stream_options={"include_usage": True})
        chunks = [c async for c in stream]
    assert whole.choices[0].message.content == "whole answer"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "streamed answer"
    assert chunks[-1].usage.completion_tokens == 2
    assert [r.provider for r in gw.records] == ["custom-x", "custom-x"]


async def test_a_custom_provider_answers_the_responses_api_and_embeddings(gateway, sims):
    async with gateway(providers=custom(sims)) as gw:
        client = openai_client(gw, "/custom-x", api_key=sims["openai"].key)
        response = await client.responses.create(model="gpt-4o-mini", input="custom responses")
        events = [e async for e in await client.responses.create(model="gpt-4o-mini", input="custom stream", stream=True)]
        vectors = await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert response.output_text == "custom responses"
    assert events[-1].type == "response.completed"
    assert len(vectors.data) == 1


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
async def test_a_custom_providers_error_reaches_the_sdk_as_its_own_error_class(gateway, sims, status, error_class):
    async with gateway(providers=custom(sims)) as gw:
        client = openai_client(gw, "/custom-x", api_key=sims["openai"].key)
        with pytest.raises(error_class) as caught:
            await client.chat.completions.create(**chat(model=f"gpt-4o-sim-fail-{status}"))
    assert caught.value.status_code == status
