"""`model: "dynamic/<route>"` on /compat over HTTP, with the openai SDK against the simulators:
the route's fallback chain, its branches, and the headers naming the step that answered."""

from __future__ import annotations

import json
from collections import Counter

import openai
import pytest

GPT = {"type": "model", "provider": "openai", "model": "gpt-4o-mini"}
CLAUDE = {"type": "model", "provider": "anthropic", "model": "claude-sonnet-4-5"}
GEMINI = {"type": "model", "provider": "google-ai-studio", "model": "gemini-2.5-flash"}
HELLO = [{"role": "user", "content": "Hello there"}]


def client(gw, **headers) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.http_url + "/compat", api_key="unused", default_headers={**gw.headers, **headers}, max_retries=0)


def routes(start: str, **elements) -> dict:
    return {"r": {"start": start, "elements": elements}}


async def test_a_route_falls_back_when_its_first_model_answers_500(aigw_gateway_factory):
    failing = {"type": "model", "provider": "openai", "model": "sim-fail-500", "retries": 0, "fallback": "claude"}
    async with aigw_gateway_factory(routes=routes("first", first=failing, claude=CLAUDE)) as gw:
        raw = await client(gw).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        answer = raw.parse()
        assert answer.choices[0].message.content == "Hello there"
        assert (raw.headers["cf-aig-provider"], raw.headers["cf-aig-model"]) == ("anthropic", "claude-sonnet-4-5")


async def test_a_streamed_fallback_is_translated_by_the_answering_steps_format(aigw_gateway_factory):
    failing = {"type": "model", "provider": "anthropic", "model": "sim-fail-500", "retries": 0, "fallback": "gemini"}
    async with aigw_gateway_factory(routes=routes("first", first=failing, gemini=GEMINI)) as gw:
        raw = await client(gw).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO, stream=True)
        assert raw.headers["cf-aig-provider"] == "google-ai-studio"
        text = "".join([c.choices[0].delta.content or "" async for c in raw.parse() if c.choices])
        assert text == "Hello there"


async def test_a_route_step_retries_as_its_element_says(aigw_gateway_factory, aigw_simulators):
    flaky = {"type": "model", "provider": "openai", "model": "sim-fail-500-x1", "retries": 1, "fallback": "claude"}
    async with aigw_gateway_factory(routes=routes("first", first=flaky, claude=CLAUDE), gateways={"default": {"retry": {"delay_ms": 0}}}) as gw:
        raw = await client(gw).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        assert (raw.headers["cf-aig-provider"], raw.headers["cf-aig-model"]) == ("openai", "sim-fail-500-x1")
        assert len(gw.records[-1].attempts) == 2


async def test_when_every_step_fails_the_last_error_comes_back_in_openai_shape(aigw_gateway_factory):
    first = {"type": "model", "provider": "openai", "model": "sim-fail-500", "retries": 0, "fallback": "second"}
    second = {"type": "model", "provider": "anthropic", "model": "sim-fail-503", "retries": 0}
    async with aigw_gateway_factory(routes=routes("first", first=first, second=second)) as gw:
        with pytest.raises(openai.InternalServerError) as info:
            await client(gw).chat.completions.create(model="dynamic/r", messages=HELLO)
        assert info.value.status_code == 503 and info.value.response.headers["cf-aig-provider"] == "anthropic"


async def test_a_conditional_on_metadata_picks_its_branch(aigw_gateway_factory):
    plan = {"type": "conditional", "when": {"metadata.plan": "pro"}, "then": "claude", "else": "gpt"}
    async with aigw_gateway_factory(routes=routes("plan", plan=plan, claude=CLAUDE, gpt=GPT)) as gw:
        pro = await client(gw, **{"cf-aig-metadata": json.dumps({"plan": "pro"})}).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        free = await client(gw, **{"cf-aig-metadata": json.dumps({"plan": "free"})}).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        assert pro.headers["cf-aig-provider"] == "anthropic" and free.headers["cf-aig-provider"] == "openai"


async def test_a_conditional_on_a_request_header_picks_its_branch(aigw_gateway_factory):
    plan = {"type": "conditional", "when": {"headers.x-team": "a"}, "then": "claude", "else": "gpt"}
    async with aigw_gateway_factory(routes=routes("plan", plan=plan, claude=CLAUDE, gpt=GPT)) as gw:
        team_a = await client(gw, **{"X-Team": "a"}).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        team_b = await client(gw, **{"X-Team": "b"}).chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO)
        assert team_a.headers["cf-aig-provider"] == "anthropic" and team_b.headers["cf-aig-provider"] == "openai"


async def test_a_percentage_split_is_within_tolerance_over_200_requests(aigw_gateway_factory):
    split = {"type": "percentage", "branches": [{"weight": 70, "next": "gpt"}], "else": "gemini"}
    async with aigw_gateway_factory(routes=routes("split", split=split, gpt=GPT, gemini=GEMINI)) as gw:
        c = client(gw)
        seen: Counter = Counter()
        for _ in range(200):
            raw = await c.chat.completions.with_raw_response.create(model="dynamic/r", messages=HELLO, max_tokens=5)
            seen[raw.headers["cf-aig-provider"]] += 1
        # 70% of 200 = 140, sd ≈ 6.5: ±30 is more than 4 sd.
        assert 110 <= seen["openai"] <= 170 and seen["openai"] + seen["google-ai-studio"] == 200


async def test_an_unknown_route_is_a_bad_request_2008(aigw_gateway_factory):
    async with aigw_gateway_factory(routes=routes("gpt", gpt=GPT)) as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await client(gw).chat.completions.create(model="dynamic/nosuch", messages=HELLO)
        assert info.value.body["code"] == 2008 and "nosuch" in info.value.message


async def test_a_route_rate_limit_without_fallback_is_429(aigw_gateway_factory):
    limit = {"type": "rate_limit", "key": "metadata.user", "limit": 1, "interval": 60, "success": "gpt"}
    async with aigw_gateway_factory(routes=routes("limit", limit=limit, gpt=GPT)) as gw:
        c = client(gw, **{"cf-aig-metadata": json.dumps({"user": "u1"})})
        await c.chat.completions.create(model="dynamic/r", messages=HELLO)
        with pytest.raises(openai.RateLimitError):
            await c.chat.completions.create(model="dynamic/r", messages=HELLO)


async def test_a_plain_model_names_its_provider_in_the_headers(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        raw = await client(gw).chat.completions.with_raw_response.create(model="groq/llama-3.3-70b", messages=HELLO)
        assert (raw.headers["cf-aig-provider"], raw.headers["cf-aig-model"]) == ("groq", "llama-3.3-70b")
