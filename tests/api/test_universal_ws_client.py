"""aigw.client.UniversalClient against a real gateway: requests, streams, cancellation by
leaving the loop, many concurrent calls on one connection, errors, and reconnecting after the
server dropped the connection."""

from __future__ import annotations

import asyncio

import pytest
from universal_ws_helpers import chunk_text, eventually, sessions, step

from aigw.client import ConnectionLost, GatewayError, UniversalClient


def server_connections(gw) -> list:
    return [c for c in gw.gateway.server.connections if hasattr(c, "handler")]


async def test_create_returns_the_providers_answer(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        s = step("openai", "hello client")
        result = await client.create(s["provider"], s["endpoint"], s["query"])
    assert result.status == 200 and result.metadata["step"] == "0"
    assert result.response["choices"][0]["message"]["content"].split() == ["hello", "client"]


async def test_create_with_the_token_in_the_subprotocol(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token, token_in_subprotocol=True) as client:
        result = await client.create(steps=[step("anthropic", "via subprotocol")])
    assert result.status == 200 and result.response["type"] == "message"


async def test_stream_yields_each_chunk_and_the_final_metadata(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        meta: dict = {}
        chunks = [c async for c in client.stream(steps=[step("openai", "a b c d", stream=True)], metadata=meta)]
    assert "".join(chunk_text(c) for c in chunks).split() == ["a", "b", "c", "d"]
    assert meta["usage"]["tokensOut"] == 4 and meta["status"] == 200


async def test_leaving_a_stream_early_cancels_the_upstream_request(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 100, 0.02
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        async for _ in client.stream(steps=[step("openai", " ".join(["w"] * 100), stream=True)]):
            break
        await eventually(lambda: sims["openai"].streams_aborted == 1)
        (session,) = sessions(gw)
        await eventually(lambda: session.inflight == {})
        result = await client.create(steps=[step("openai", "still usable")])
        assert result.status == 200


async def test_many_concurrent_calls_share_one_connection(gateway, sims):
    providers = ["openai", "anthropic", "workers-ai", "google-ai-studio"]

    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:

        async def call(i: int) -> tuple[int, str]:
            prompt = f"call{i} alpha{i} beta{i}"
            s = step(providers[i % 4], prompt, stream=i % 2 == 0)
            if i % 2 == 0:
                text = "".join([chunk_text(c) async for c in client.stream(steps=[s])])
            else:
                result = await client.create(steps=[s])
                text = str(result.response)
            return i, text

        results = await asyncio.gather(*(call(i) for i in range(60)))
        assert len(server_connections(gw)) == 1
    for i, text in results:
        for word in (f"call{i}", f"alpha{i}", f"beta{i}"):
            assert word in text, (i, text)


async def test_a_broken_stream_raises_gateway_error(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        with pytest.raises(GatewayError) as info:
            async for _ in client.stream(steps=[step("openai", "a b c", stream=True, model="sim-fault-reset-after-1")]):
                pass
    assert info.value.code == 2005


async def test_a_gateway_error_is_raised_from_stream(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        with pytest.raises(GatewayError) as info:
            async for _ in client.stream("nope-ai", "x", {"stream": True}):
                pass
    assert info.value.code == 2008 and info.value.status == 400


async def test_requests_in_flight_when_the_server_drops_fail_with_connection_lost(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 100, 0.02
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        agen = client.stream(steps=[step("openai", " ".join(["w"] * 100), stream=True)])
        await agen.__anext__()
        (conn,) = server_connections(gw)
        conn._transport.abort()
        with pytest.raises(ConnectionLost):
            async for _ in agen:
                pass


async def test_the_client_reconnects_on_demand_after_the_server_dropped_it(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        assert (await client.create(steps=[step("openai", "before")])).status == 200
        (conn,) = server_connections(gw)
        conn.close(1001, "going away")
        await eventually(lambda: not server_connections(gw))
        result = await client.create(steps=[step("openai", "after")])
        assert result.status == 200
        assert len(server_connections(gw)) == 1 and server_connections(gw)[0] is not conn


async def test_the_client_reconnects_even_right_after_an_abrupt_drop(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        assert (await client.create(steps=[step("openai", "before")])).status == 200
        (conn,) = server_connections(gw)
        conn._transport.abort()
        await asyncio.sleep(0.05)
        result = await client.create(steps=[step("openai", "after")])
        assert result.status == 200


async def test_an_upstream_error_answer_is_raised_from_stream_with_its_status(gateway):
    async with gateway() as gw, UniversalClient(gw.url, token=gw.token) as client:
        with pytest.raises(GatewayError) as info:
            async for _ in client.stream(steps=[step("openai", "x", stream=True, model="sim-fail-429")]):
                pass
    assert info.value.status == 429 and info.value.metadata["step"] == "0"


async def test_the_aigw_client_fixture_talks_to_the_aigw_gateway_fixture(aigw_client, aigw_sim_openai):
    result = await aigw_client.create(
        "openai", "chat/completions", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fixture check"}]}
    )
    assert result.status == 200
    assert result.response["choices"][0]["message"]["content"] == "fixture check"
