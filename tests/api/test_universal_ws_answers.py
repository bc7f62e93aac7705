"""Answers over the Universal WebSocket API: the non-streamed `universal.created`, the streamed
created → stream… → done sequence for each provider framing, and many concurrent streams on
one connection staying untangled (websocket-api.md "Server → client")."""

from __future__ import annotations

import asyncio
import re

import orjson
import pytest
from universal_ws_helpers import answer, answers, chunk_text, connect, create, recv, replay, same_ids, sse_data, step

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
META_KEYS = {"cacheStatus", "eventId", "logId", "step", "contentType", "status", "usage"}


async def test_non_streamed_answer_is_one_created_with_the_provider_body_unchanged(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "the quick brown fox", event_id="e1")))
        raw = (await asyncio.wait_for(ws.recv(), 10)).encode()
    msg = orjson.loads(raw)
    meta = msg["metadata"]
    assert msg["type"] == "universal.created"
    assert set(meta) == META_KEYS
    assert meta["cacheStatus"] == "MISS" and meta["eventId"] == "e1" and meta["step"] == "0"
    assert meta["contentType"] == "application/json" and meta["status"] == 200
    assert UUID7.match(meta["logId"])
    assert meta["usage"] == {"tokensIn": 4, "tokensOut": 4}
    status, _, body = await replay(sims["openai"], sims["openai"].last_request)
    assert status == 200
    assert same_ids(raw).endswith(b'"response":' + same_ids(body) + b"}")


@pytest.mark.parametrize("provider", ["openai", "anthropic", "workers-ai", "google-ai-studio", "deepseek"])
async def test_stream_relays_one_message_per_upstream_event(gateway, sims, provider):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step(provider, "one two three four five", stream=True, event_id="s1")))
        messages = await answer(ws)
    sim = sims[provider]
    status, content_type, wire = await replay(sim, sim.last_request)
    assert status == 200 and content_type.startswith("text/event-stream")
    upstream_events = [orjson.loads(same_ids(d)) for d in sse_data(wire)]

    first, *chunks, last = messages
    assert first["type"] == "universal.created" and "response" not in first
    assert first["metadata"]["contentType"] == "text/event-stream"
    assert first["metadata"]["eventId"] == "s1" and first["metadata"]["step"] == "0"
    assert all(m["type"] == "universal.stream" and m["metadata"] == {"eventId": "s1"} for m in chunks)
    assert [orjson.loads(same_ids(orjson.dumps(m["response"]))) for m in chunks] == upstream_events
    assert "".join(chunk_text(m["response"]) for m in chunks).split() == "one two three four five".split()
    assert last["type"] == "universal.done" and "response" not in last
    assert {k: v for k, v in last["metadata"].items() if k != "usage"} == first["metadata"]
    assert last["metadata"]["usage"]["tokensIn"] > 0 and last["metadata"]["usage"]["tokensOut"] == 5


async def test_done_terminator_is_not_relayed(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c", stream=True, event_id="s1")))
        messages = await answer(ws)
    _, _, wire = await replay(sims["openai"], sims["openai"].last_request)
    assert b"data: [DONE]" in wire
    assert all(m.get("response") != "[DONE]" for m in messages)


async def test_google_crlf_stream_without_done_is_relayed(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("google-ai-studio", "x y z", stream=True, event_id="g")))
        messages = await answer(ws)
    _, _, wire = await replay(sims["google-ai-studio"], sims["google-ai-studio"].last_request)
    assert b"\r\n\r\n" in wire and b"[DONE]" not in wire
    assert messages[-1]["type"] == "universal.done" and "error" not in messages[-1]["metadata"]
    assert "".join(chunk_text(m.get("response")) for m in messages).split() == ["x", "y", "z"]


async def test_keep_alive_comments_are_not_relayed(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("deepseek", "p q", stream=True, event_id="d")))
        messages = await answer(ws)
    _, _, wire = await replay(sims["deepseek"], sims["deepseek"].last_request)
    assert b": keep-alive" in wire
    assert all(isinstance(m.get("response", {}), dict) for m in messages)


async def test_stream_without_event_id_gets_one_assigned(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b", stream=True)))
        messages = await answer(ws)
    event_id = messages[0]["metadata"]["eventId"]
    assert re.match(r"^[0-9a-f-]{36}$", event_id)
    assert all(m["metadata"]["eventId"] == event_id for m in messages)


@pytest.mark.one_loop
async def test_two_hundred_concurrent_streams_on_one_connection_stay_untangled(gateway, sims):
    providers = ["openai", "anthropic", "workers-ai", "google-ai-studio", "deepseek", "groq"]
    for slug in providers:
        sims[slug].chunks, sims[slug].chunk_delay = 6, 0.002
    n = 200
    prompts = {f"r{i}": f"request {i} says w{i}a w{i}b w{i}c w{i}d" for i in range(n)}
    async with gateway() as gw, connect(gw) as ws:
        for i, (event_id, prompt) in enumerate(prompts.items()):
            await ws.send(create(step(providers[i % len(providers)], prompt, stream=True, event_id=event_id)))
        got = await answers(ws, n, timeout=60)
    assert set(got) == set(prompts)
    for event_id, messages in got.items():
        kinds = [m["type"] for m in messages]
        assert kinds[0] == "universal.created" and kinds[-1] == "universal.done", (event_id, kinds)
        assert set(kinds[1:-1]) == {"universal.stream"}
        assert "error" not in messages[-1]["metadata"]
        text = "".join(chunk_text(m.get("response")) for m in messages[1:-1])
        assert text.split() == prompts[event_id].split(), event_id


async def test_concurrent_answers_interleave(gateway, sims):
    sims["openai"].chunk_delay = sims["anthropic"].chunk_delay = 0.02
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c d", stream=True, event_id="o")))
        await ws.send(create(step("anthropic", "e f g h", stream=True, event_id="a")))
        order = []
        finished = 0
        while finished < 2:
            msg = await recv(ws)
            order.append(msg["metadata"]["eventId"])
            finished += msg["type"] == "universal.done"
    switches = sum(a != b for a, b in zip(order, order[1:]))
    assert switches >= 2, order  # neither request waited for the other to finish


async def test_streams_work_over_permessage_deflate(gateway):
    async with gateway(server={"permessage_deflate": True}) as gw, connect(gw, compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers.get("Sec-WebSocket-Extensions", "")
        await ws.send(create(step("anthropic", "squeeze these words", stream=True, event_id="z")))
        messages = await answer(ws)
    assert messages[-1]["type"] == "universal.done"
    assert "".join(chunk_text(m.get("response")) for m in messages).split() == ["squeeze", "these", "words"]
