"""The /compat HTTP doors with the official SDKs, against the provider simulators."""

from __future__ import annotations

import anthropic
import openai
import pytest


def openai_client(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash", "workers-ai/@cf/meta/llama-3.1-8b-instruct", "groq/llama-3.3-70b"])
async def test_the_openai_sdk_talks_to_every_provider_by_model_name(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        client = openai_client(gw)
        answer = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello there"}], max_tokens=50)
        assert answer.choices[0].message.content and answer.choices[0].finish_reason in ("stop", "length")
        assert answer.usage.prompt_tokens > 0
        stream = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hello there"}], stream=True, stream_options={"include_usage": True})
        parts, usage = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            if chunk.usage:
                usage = chunk.usage
        assert "".join(parts) and usage is not None and usage.completion_tokens > 0


async def test_an_unknown_provider_is_a_bad_request_2008(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await openai_client(gw).chat.completions.create(model="nosuch/m", messages=[{"role": "user", "content": "x"}])
        assert info.value.body["code"] == 2008


async def test_a_refused_parameter_is_a_bad_request_naming_it(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await openai_client(gw).chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"})
        assert "response_format" in info.value.message


@pytest.mark.parametrize("model", ["openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash", "workers-ai/@cf/meta/llama-3.1-8b-instruct"])
async def test_the_anthropic_sdk_talks_to_other_providers(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        client = anthropic.AsyncAnthropic(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)
        message = await client.messages.create(model=model, max_tokens=50, messages=[{"role": "user", "content": "Hello there"}])
        assert message.content[0].text and message.usage.input_tokens > 0
        async with client.messages.stream(model=model, max_tokens=50, messages=[{"role": "user", "content": "Hello there"}]) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
        assert text and final.stop_reason in ("end_turn", "max_tokens")


async def test_the_clients_event_id_is_echoed_and_logged(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        raw = await openai_client(gw).chat.completions.with_raw_response.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], max_tokens=5,
            extra_headers={"cf-aig-event-id": "evt-7"},
        )  # fmt: skip
    assert raw.headers["cf-aig-event-id"] == "evt-7" and gw.records[0].event_id == "evt-7"
    assert raw.headers["cf-aig-log-id"] == gw.records[0].log_id


async def test_without_an_event_id_the_event_id_is_the_log_id(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        raw = await openai_client(gw).chat.completions.with_raw_response.create(
            model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], max_tokens=5
        )
    assert raw.headers["cf-aig-event-id"] == raw.headers["cf-aig-log-id"] == gw.records[0].log_id == gw.records[0].event_id


async def test_an_event_id_too_long_is_a_bad_request(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await openai_client(gw).chat.completions.create(
                model="anthropic/claude-sonnet-4-5", messages=[{"role": "user", "content": "x"}], extra_headers={"cf-aig-event-id": "e" * 300}
            )
        assert info.value.body["code"] == 2010


@pytest.mark.parametrize(
    "body, status, says",
    [
        (b"{not json", 400, "not valid JSON"),
        (b'[{"model": "openai/gpt-4o-mini"}]', 400, "must be a JSON object"),
        (b'{"model": "gpt-4o-mini", "messages": []}', 400, "{provider}/{model}"),
        (b'{"model": "openai/", "messages": []}', 400, "{provider}/{model}"),
        (b'{"model": 7, "messages": []}', 400, "'model' is required"),
        (b'{"messages": []}', 400, "'model' is required"),
    ],
    ids=["not-json", "array", "no-provider", "no-model", "model-not-text", "no-model-field"],
)
async def test_a_body_the_door_cannot_read_is_a_400_in_openai_shape_saying_why(aigw_gateway_factory, body, status, says):
    import aiohttp
    import orjson

    async with aigw_gateway_factory() as gw, aiohttp.ClientSession() as http:
        url = gw.http_url + "/compat/chat/completions"
        async with http.post(url, data=body, headers={**gw.headers, "content-type": "application/json"}) as resp:
            doc = orjson.loads(await resp.read())
    assert resp.status == status and says in doc["error"]["message"]
