"""A stream that breaks after its head was sent never ends as a success over HTTP: the client
sees the connection end abnormally (the SDK raises), and the log row says failed."""

from __future__ import annotations

import aiohttp
import httpx
import openai
import pytest
from doors import chat, log_rows, openai_client, session


async def read_stream(client, **body) -> list:
    stream = await client.chat.completions.create(**body, stream=True)
    return [chunk async for chunk in stream]


@pytest.mark.parametrize("fault", ["reset", "stall-then-idle", "no-done"])
async def test_a_stream_that_breaks_midway_makes_the_openai_sdk_raise(gateway, sims, fault):
    config = {}
    if fault == "reset":
        model = "gpt-4o-sim-fault-reset-after-2"  # a TCP reset after two content chunks
    elif fault == "stall-then-idle":
        model = "gpt-4o-sim-fault-stall-after-2"  # silence, past the stream-idle timeout
        config = {"gateways": {"default": {"stream_idle_timeout_ms": 300}}}
    else:
        model = "gpt-4o-sim-fault-error-after-2"  # a mid-stream error event, then the end without [DONE]
    async with gateway(**config) as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, openai.APIError)):
            await read_stream(client, **chat("one two three four", model=model))
        await gw.stop()
    (row,) = log_rows(gw)
    assert row["success"] == 0 and row["error"]


async def test_a_broken_stream_ends_the_http_response_without_its_last_chunk(gateway, sims):
    """The chunked body is cut off (no `0\\r\\n\\r\\n`), which every HTTP client reports."""
    async with gateway() as gw, session() as http:
        headers = {**gw.headers, "x-sim-fault": "reset-after-1"}
        async with http.post(gw.http_url + "/openai/chat/completions", json=chat("a b c", stream=True), headers=headers) as resp:
            assert resp.status == 200
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()


async def test_a_broken_stream_leaves_the_next_request_unharmed(gateway, sims):
    async with gateway() as gw:
        client = openai_client(gw, api_key=sims["openai"].key)
        with pytest.raises(Exception):
            await read_stream(client, **chat("a b c", model="gpt-4o-sim-fault-reset-after-1"))
        chunks = await read_stream(client, **chat("still fine"))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "still fine"
