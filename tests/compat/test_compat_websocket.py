"""The unified schema over the Universal WebSocket: a `provider: "compat"` step takes an
OpenAI-shaped body with `provider/model` and answers in OpenAI's shape, whatever the provider."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import websockets

HELLO = [{"role": "user", "content": "Hello there"}]


def compat_step(model: str, *, stream: bool = False, **extra) -> dict:
    query = {"model": model, "messages": HELLO, **extra}
    if stream:
        query["stream"] = True
        query["stream_options"] = {"include_usage": True}
    return {"provider": "compat", "endpoint": "chat/completions", "headers": {}, "query": query}


async def exchange(gw, steps: list[dict], event_id: str = "e1") -> list[dict]:
    """Send one universal.create; every message of its answer, until it ends."""
    async with websockets.connect(gw.url, additional_headers=gw.headers) as ws:
        await ws.send(orjson.dumps({"type": "universal.create", "eventId": event_id, "request": steps}).decode())
        out: list[dict] = []

        async def read() -> None:
            while True:
                msg = orjson.loads(await ws.recv())
                out.append(msg)
                kind, meta = msg["type"], msg.get("metadata", {})
                if kind in ("universal.done", "universal.error") or (kind == "universal.created" and meta.get("contentType") != "text/event-stream"):
                    return

        await asyncio.wait_for(read(), 10)
        return out


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash", "workers-ai/@cf/meta/llama-3.1-8b-instruct", "openai/gpt-4o-mini"])
async def test_a_compat_step_answers_in_openai_shape_for_every_provider(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        [created] = await exchange(gw, [compat_step(model, max_tokens=50)])
        assert created["type"] == "universal.created"
        assert created["response"]["object"] == "chat.completion"
        assert created["response"]["choices"][0]["message"]["content"] == "Hello there"
        provider, _, name = model.partition("/")
        assert (created["metadata"]["provider"], created["metadata"]["model"]) == (provider, name)


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash"])
async def test_a_streamed_compat_step_streams_openai_chunks(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        msgs = await exchange(gw, [compat_step(model, stream=True)])
        assert [m["type"] for m in (msgs[0], msgs[-1])] == ["universal.created", "universal.done"]
        chunks = [m["response"] for m in msgs if m["type"] == "universal.stream"]
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"]) == "Hello there"
        assert chunks[-1]["usage"]["completion_tokens"] > 0
        assert "error" not in msgs[-1]["metadata"] and msgs[-1]["metadata"]["provider"] == model.partition("/")[0]


async def test_a_compat_step_may_name_a_dynamic_route(aigw_gateway_factory):
    failing = {"type": "model", "provider": "openai", "model": "sim-fail-500", "retries": 0, "fallback": "claude"}
    claude = {"type": "model", "provider": "anthropic", "model": "claude-sonnet-4-5"}
    async with aigw_gateway_factory(routes={"r": {"start": "first", "elements": {"first": failing, "claude": claude}}}) as gw:
        [created] = await exchange(gw, [compat_step("dynamic/r")])
        assert created["metadata"]["step"] == "1" and created["metadata"]["provider"] == "anthropic"
        assert created["response"]["choices"][0]["message"]["content"] == "Hello there"


async def test_a_compat_step_falls_back_to_a_native_step(aigw_gateway_factory):
    native = {"provider": "groq", "endpoint": "chat/completions", "headers": {}, "query": {"model": "llama-3.3-70b", "messages": HELLO}}
    async with aigw_gateway_factory() as gw:
        [created] = await exchange(gw, [compat_step("anthropic/sim-fail-500"), native])
        assert created["metadata"]["step"] == "1" and "provider" not in created["metadata"]
        assert created["response"]["choices"][0]["message"]["content"] == "Hello there"


async def test_an_unknown_compat_provider_is_answered_for_its_event_id_with_2008(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        [created] = await exchange(gw, [compat_step("nosuch/model")], event_id="bad")
        assert created["metadata"]["eventId"] == "bad" and created["metadata"]["status"] == 400
        assert created["response"]["errors"][0]["code"] == 2008


async def test_a_compat_step_on_another_endpoint_is_refused(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        step = {**compat_step("openai/gpt-4o-mini"), "endpoint": "embeddings"}
        [created] = await exchange(gw, [step])
        assert created["metadata"]["status"] == 400 and "chat/completions" in created["response"]["errors"][0]["message"]
