"""/compat to a provider that speaks the front door's own schema (OpenAI chat to the OpenAI
family, Messages to Anthropic): the body goes upstream with only its model rewritten, the
answer comes back as the provider sent it, and the gateway's own errors are in the front
door's error shape — with the official SDKs against the simulators."""

from __future__ import annotations

import anthropic
import openai
import orjson
import pytest

HELLO = [{"role": "user", "content": "Hello there"}]


def openai_client(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)


def anthropic_client(gw) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)


ONE_PER_MINUTE = {"gateways": {"default": {"rate_limit": {"limit": 1, "interval": 60, "technique": "fixed"}}}}


async def test_an_openai_body_goes_upstream_with_only_its_model_rewritten(aigw_gateway_factory, aigw_sim_openai):
    async with aigw_gateway_factory() as gw:
        await openai_client(gw).chat.completions.create(
            model="openai/gpt-4o-mini", messages=HELLO, max_tokens=7, seed=3, extra_body={"vendor_field": {"kept": [1, 2]}}
        )
    sent = aigw_sim_openai.last_request.json()
    assert sent == {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 7, "seed": 3, "vendor_field": {"kept": [1, 2]}}


async def test_an_openai_answer_comes_back_as_the_provider_sent_it_naming_the_step(aigw_gateway_factory, aigw_sim_openai):
    async with aigw_gateway_factory() as gw:
        raw = await openai_client(gw).chat.completions.with_raw_response.create(model="openai/gpt-4o-mini", messages=HELLO)
        direct = await openai.AsyncOpenAI(base_url=aigw_sim_openai.base_url(), api_key=aigw_sim_openai.key, max_retries=0).chat.completions.create(
            model="gpt-4o-mini", messages=HELLO
        )
    answer = orjson.loads(raw.content)
    assert answer.keys() == direct.model_dump(exclude_unset=True).keys()
    assert answer["choices"][0]["message"]["content"] == direct.choices[0].message.content
    assert (raw.headers["cf-aig-provider"], raw.headers["cf-aig-model"]) == ("openai", "gpt-4o-mini")
    assert raw.headers["cf-aig-log-id"] == gw.records[0].log_id and "cf-aig-step" not in raw.headers


async def test_an_openai_stream_passes_through_with_its_usage(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        stream = await openai_client(gw).chat.completions.create(
            model="openai/gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello there"
    assert chunks[-1].usage is not None and gw.records[0].tokens_out == chunks[-1].usage.completion_tokens


async def test_an_upstream_error_comes_back_as_the_provider_sent_it(aigw_gateway_factory, aigw_sim_openai):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.InternalServerError) as info:
            await openai_client(gw).chat.completions.create(model="openai/sim-fail-500", messages=HELLO)
    assert info.value.status_code == 500 and info.value.response.headers["cf-aig-provider"] == "openai"
    assert orjson.loads(info.value.response.content) == orjson.loads(b'{"error": ' + orjson.dumps(info.value.body) + b"}")


async def test_the_gateways_own_error_is_in_openai_shape(aigw_gateway_factory, clear_of_window_edge):
    async with aigw_gateway_factory(**ONE_PER_MINUTE) as gw:
        await clear_of_window_edge(60)
        await openai_client(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
        with pytest.raises(openai.RateLimitError) as info:
            await openai_client(gw).chat.completions.create(model="openai/gpt-4o-mini", messages=HELLO)
    assert info.value.body["code"] == 2003 and info.value.body["message"]
    assert info.value.response.headers["cf-aig-model"] == "gpt-4o-mini"


async def test_a_messages_body_goes_to_anthropic_with_only_its_model_rewritten(aigw_gateway_factory, aigw_sim_anthropic):
    async with aigw_gateway_factory() as gw:
        message = await anthropic_client(gw).messages.create(
            model="anthropic/claude-sonnet-4-5", max_tokens=20, messages=HELLO, metadata={"user_id": "u-1"}
        )
    assert message.content[0].text == "Hello there"
    sent = aigw_sim_anthropic.last_request.json()
    assert sent == {"model": "claude-sonnet-4-5", "max_tokens": 20, "messages": HELLO, "metadata": {"user_id": "u-1"}}


async def test_the_gateways_own_error_is_in_anthropic_shape(aigw_gateway_factory, clear_of_window_edge):
    async with aigw_gateway_factory(**ONE_PER_MINUTE) as gw:
        await clear_of_window_edge(60)
        client = anthropic_client(gw)
        await client.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=20, messages=HELLO)
        with pytest.raises(anthropic.RateLimitError) as info:
            await client.messages.create(model="anthropic/claude-sonnet-4-5", max_tokens=20, messages=HELLO)
    assert info.value.body["type"] == "error" and info.value.body["error"]["message"]
    assert info.value.response.headers["cf-aig-provider"] == "anthropic"


async def post_raw(gw, body: bytes) -> tuple[int, bytes]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        url = gw.http_url + "/compat/chat/completions"
        async with http.post(url, data=body, headers={**gw.headers, "content-type": "application/json"}) as resp:
            return resp.status, await resp.read()


async def test_the_clients_bytes_go_upstream_as_sent_but_for_the_model_string(aigw_gateway_factory, aigw_sim_openai):
    sent = b'{ "messages" : [{"role":"user","content":"caf\\u00e9 \\ud83d\\ude00"}],\n  "model": "openai/gpt-4o-mini",  "temperature": 1.0e0, "seed":7 }'
    async with aigw_gateway_factory() as gw:
        status, _ = await post_raw(gw, sent)
    assert status == 200
    assert aigw_sim_openai.last_request.body == sent.replace(b'"openai/gpt-4o-mini"', b'"gpt-4o-mini"')


@pytest.mark.parametrize(
    "sent",
    [
        b'{"model": "openai/other", "messages": [{"role": "user", "content": "hi"}], "model": "openai/gpt-4o-mini"}',
        b'{"mod\\u0065l": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}',
    ],
    ids=["two-model-keys", "escaped-key"],
)
async def test_a_body_read_whole_goes_upstream_with_its_model_rewritten(aigw_gateway_factory, aigw_sim_openai, sent):
    async with aigw_gateway_factory() as gw:
        status, _ = await post_raw(gw, sent)
    assert status == 200
    assert aigw_sim_openai.last_request.json() == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def test_a_name_resolved_once_passes_through_again_as_the_first_time(aigw_gateway_factory, aigw_sim_openai):
    first = b'{"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "n": 1}'
    second = b'{"n": 2, "model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": false}'
    async with aigw_gateway_factory() as gw:
        assert (await post_raw(gw, first))[0] == 200
        assert aigw_sim_openai.last_request.body == first.replace(b'"openai/gpt-4o-mini"', b'"gpt-4o-mini"')
        assert (await post_raw(gw, second))[0] == 200
        assert aigw_sim_openai.last_request.body == second.replace(b'"openai/gpt-4o-mini"', b'"gpt-4o-mini"')
    assert [r.model for r in gw.records] == ["gpt-4o-mini", "gpt-4o-mini"]


async def test_an_unknown_provider_is_refused_every_time_it_is_named(aigw_gateway_factory):
    body = b'{"model": "nosuch/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
    async with aigw_gateway_factory() as gw:
        answers = [await post_raw(gw, body) for _ in range(2)]
    assert [status for status, _ in answers] == [400, 400]
    assert answers[0][1] == answers[1][1] and b"nosuch" in answers[0][1]
