"""A revoked token ends the WebSocket connections it opened (issue 7 item 8; websocket-api.md
"Close codes": 1008). The revoke is a real one, by another TokenStore on the same database, as
`aigw tokens revoke` in another process does; the gateway picks it up at its next token sync."""

from __future__ import annotations

import asyncio
import sqlite3

import orjson
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from aigw.auth import TokenStore

SYNC_INTERVAL = 0.1


def streamed_create(event_id: str, words: int) -> str:
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": " ".join(["w"] * words)}]}
    return orjson.dumps(
        {"type": "universal.create", "request": {"eventId": event_id, "provider": "openai", "endpoint": "chat/completions", "query": body}}
    ).decode()


@pytest.fixture
def slow_openai(aigw_simulators):
    sim = aigw_simulators["openai"]
    saved = sim.chunks, sim.chunk_delay
    sim.chunks, sim.chunk_delay = 200, 0.02  # a 4 s stream: still in flight when the revoke lands
    yield sim
    sim.chunks, sim.chunk_delay = saved


def revoke_elsewhere(gw, token: str) -> None:
    other = TokenStore(gw.gateway.settings.db_path)
    try:
        other.revoke(token)
    finally:
        other.close()


async def read_until_closed(ws) -> tuple[list[dict], int]:
    messages = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            messages.append(orjson.loads(await asyncio.wait_for(ws.recv(), 5)))
    return messages, closed.value.rcvd.code


async def test_a_revoked_token_closes_its_connection_with_1008_after_cancelling_and_logging(aigw_gateway_factory, slow_openai):
    async with aigw_gateway_factory(plugins={"tokens": {"sync_interval": SYNC_INTERVAL}}) as gw:
        async with websockets.connect(gw.url, additional_headers=gw.headers) as ws:
            await ws.send(streamed_create("e1", 200))
            first = orjson.loads(await ws.recv())
            assert first["type"] == "universal.created"
            started = asyncio.get_running_loop().time()
            await asyncio.to_thread(revoke_elsewhere, gw, gw.token)
            messages, code = await read_until_closed(ws)
            elapsed = asyncio.get_running_loop().time() - started
        assert code == 1008
        assert elapsed < 2.0  # within the sync interval (0.1 s), well before the 4 s stream ends
        final = messages[-1]
        assert final["type"] == "universal.done" and final["metadata"]["cancelled"] is True
        assert final["metadata"]["eventId"] == "e1"
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(gw.url, additional_headers=gw.headers):
                pass
        assert refused.value.response.status_code == 401
    with sqlite3.connect(gw.log_db) as db:
        rows = db.execute("SELECT event_id, cancelled FROM logs").fetchall()
    assert rows == [("e1", 1)]


async def test_revoking_one_token_leaves_connections_of_other_tokens_open(aigw_gateway_factory, slow_openai):
    async with aigw_gateway_factory(plugins={"tokens": {"sync_interval": SYNC_INTERVAL}}) as gw:
        other = gw.gateway.create_token("other client")
        async with websockets.connect(gw.url, additional_headers=gw.headers) as doomed, websockets.connect(
            gw.url, subprotocols=[f"cf-aig-authorization.{other}"]
        ) as kept:
            await asyncio.to_thread(revoke_elsewhere, gw, gw.token)
            _, code = await read_until_closed(doomed)
            assert code == 1008
            await kept.send(streamed_create("k1", 2).replace('"stream":true', '"stream":false'))
            answer = orjson.loads(await asyncio.wait_for(kept.recv(), 5))
            assert answer["type"] == "universal.created" and answer["metadata"]["status"] == 200


async def test_a_token_revoked_in_process_also_closes_its_connections(aigw_gateway_factory, slow_openai):
    async with aigw_gateway_factory(plugins={"tokens": {"sync_interval": SYNC_INTERVAL}}) as gw:
        token = gw.gateway.create_token("short-lived")
        async with websockets.connect(gw.url, additional_headers={"cf-aig-authorization": f"Bearer {token}"}) as ws:
            await ws.send(streamed_create("e1", 200))
            await ws.recv()
            gw.gateway._built.auth.store.revoke(token)
            messages, code = await read_until_closed(ws)
        assert code == 1008 and messages[-1]["metadata"]["cancelled"] is True
