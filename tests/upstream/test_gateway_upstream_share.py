"""End to end over real sockets: one client connection of the gateway cannot take a provider
away from the others, and whatever a client abandons (by leaving, by cancelling) gives its
upstream connections back at once (docs/configuration.md, "Upstream connections")."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets


@pytest.fixture
def openai(aigw_simulators):
    return aigw_simulators["openai"]


def create(event_id: str, *, stream: bool = True, prompt: str = "hello there") -> str:
    query: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    if stream:
        query["stream"] = True
    request = {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": query, "eventId": event_id}
    return orjson.dumps({"type": "universal.create", "request": request}).decode()


def cancel(event_id: str) -> str:
    return orjson.dumps({"type": "universal.cancel", "eventId": event_id}).decode()


def connect(gw, **kw: Any):
    return websockets.connect(gw.url, additional_headers=gw.headers, max_size=None, **kw)


async def recv(ws, timeout: float = 5.0) -> dict:
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def eventually(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s")
        await asyncio.sleep(0.01)


def server_conns(gw) -> list[Any]:
    """The gateway's WebSocket connections (each has `.handler`, its UniversalSession)."""
    return [c for c in gw.gateway.server.connections if hasattr(c, "handler")]


def upstream(gw) -> Any:
    """The gateway's upstream client (every session shares it)."""
    return server_conns(gw)[0].handler.runtime.client


def busy(client) -> int:
    """Upstream connections in use (open, not idle in the pool)."""
    return sum(open_ - idle for open_, idle, _ in client.stats().values())


def waiting(client) -> int:
    return sum(w for _, _, w in client.stats().values())


async def test_one_client_saturating_a_provider_leaves_room_for_another(aigw_gateway_factory, openai):
    openai.chunks, openai.chunk_delay = 200, 0.02  # ~4 s per stream
    config = {"upstream": {"pool_size_per_host": 8, "connect_timeout_ms": 1500}}  # share: 8 / 4 = 2
    async with aigw_gateway_factory(**config) as gw, connect(gw, max_queue=1) as hog:
        for i in range(8):
            await hog.send(create(f"hog{i}"))
        await eventually(lambda: len(openai.requests) >= 2)  # the hog's streams are running
        await asyncio.sleep(0.1)  # and its other requests have taken whatever they can
        async with connect(gw) as other:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await other.send(create("mine", stream=False))
            msg = await recv(other)
            elapsed = loop.time() - started
        assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 200, msg
        assert elapsed < 1.0
        handler = server_conns(gw)[0].handler
        session = getattr(handler, "inner", handler)  # a token-tracked session wraps the UniversalSession
        client = upstream(gw)
        assert client.owner_connections(session) == 2 and waiting(client) == 6  # the hog's share; the rest queue
        hog.transport.abort()  # a client that stops reading would not finish a closing handshake
        await eventually(lambda: busy(client) == 0 and waiting(client) == 0)


async def test_a_client_that_resets_with_64_paused_streams_gives_every_upstream_connection_back(aigw_gateway_factory, openai):
    """The reported leak: 64 streams to one provider, the client never reads (the relays pause
    on its full socket, holding their upstream responses mid-body), then resets TCP. Every
    upstream connection must be closed at once, not at the upstream total timeout (600 s)."""
    openai.chunks, openai.chunk_delay = 100, 0.0
    openai.reply = " ".join(["x" * 10_000] * 100)  # ~1 MB per stream: far more than the socket holds
    async with aigw_gateway_factory() as gw:
        async with connect(gw, max_queue=1) as ws:
            for i in range(64):
                await ws.send(create(f"s{i}"))
            await eventually(lambda: len(server_conns(gw)) == 1)
            conn = server_conns(gw)[0]
            client = upstream(gw)
            await eventually(lambda: conn.is_writable is False and busy(client) > 0)
            await asyncio.sleep(0.2)  # the relays reach their drained() wait
            assert busy(client) > 0
            ws.transport.abort()  # a TCP reset, no closing handshake
        await eventually(lambda: server_conns(gw) == [], timeout=3)
        await eventually(lambda: busy(client) == 0 and waiting(client) == 0, timeout=2)
        assert openai.streams_finished < 64  # most were cut short, not run to their end


async def test_a_request_cancelled_while_waiting_for_the_head_closes_its_upstream_connection(aigw_gateway_factory, openai):
    openai.latency = 5.0
    async with aigw_gateway_factory() as gw, connect(gw) as ws:
        await ws.send(create("slow"))
        await eventually(lambda: len(server_conns(gw)) == 1 and busy(upstream(gw)) == 1)
        await ws.send(cancel("slow"))
        msg = await recv(ws)
        assert msg["type"] == "universal.done" and msg["metadata"]["cancelled"] is True
        await eventually(lambda: busy(upstream(gw)) == 0, timeout=1)


async def test_a_request_cancelled_while_queued_for_a_pool_slot_leaves_the_queue(aigw_gateway_factory, openai):
    openai.chunks, openai.chunk_delay = 100, 0.02  # ~2 s
    async with aigw_gateway_factory(upstream={"pool_size_per_host": 1}) as gw, connect(gw) as ws:
        await ws.send(create("first"))
        await eventually(lambda: len(server_conns(gw)) == 1 and busy(upstream(gw)) == 1)
        await ws.send(create("queued"))
        await eventually(lambda: waiting(upstream(gw)) == 1)
        await ws.send(cancel("queued"))
        await eventually(lambda: waiting(upstream(gw)) == 0, timeout=1)
        await ws.send(cancel("first"))
        await eventually(lambda: busy(upstream(gw)) == 0, timeout=1)
