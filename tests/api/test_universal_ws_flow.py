"""The connection's life around its requests: a client that leaves cancels its upstream calls,
a client that stops reading does not make the gateway buffer without bound, and a gateway that
shuts down lets in-flight streams finish, then closes with 1001 (websocket-api.md "Limits and
flow control")."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
import websockets
from universal_ws_helpers import answers, chunk_text, connect, create, eventually, recv, sessions, step


def words(n: int, tag: str = "w") -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


async def test_a_client_that_disconnects_mid_stream_cancels_its_upstream_requests(gateway, sims):
    for slug in ("openai", "anthropic", "deepseek"):
        sims[slug].chunks, sims[slug].chunk_delay = 100, 0.02
    async with gateway() as gw:
        async with connect(gw) as ws:
            for slug in ("openai", "anthropic", "deepseek"):
                await ws.send(create(step(slug, words(100), stream=True, event_id=slug)))
            (session,) = sessions(gw)
            seen = set()
            while len(seen) < 3:
                msg = await recv(ws)
                if msg["type"] == "universal.stream":
                    seen.add(msg["metadata"]["eventId"])
            ws.transport.abort()  # gone without a closing handshake
        await eventually(lambda: all(sims[s].streams_aborted == 1 for s in ("openai", "anthropic", "deepseek")))
        assert session.inflight == {}
        assert sessions(gw) == []
        assert all(sims[s].streams_finished == 0 for s in ("openai", "anthropic", "deepseek"))


async def test_a_client_that_closes_normally_mid_stream_cancels_too(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 100, 0.02
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", words(100), stream=True, event_id="x")))
            (session,) = sessions(gw)
            while (await recv(ws))["type"] != "universal.stream":
                pass
        await eventually(lambda: sims["openai"].streams_aborted == 1)
        assert session.inflight == {}


@pytest.mark.one_loop
async def test_a_slow_reader_keeps_the_gateways_buffer_bounded_and_resumes(gateway, sims):
    """40 streams of ~1 MB each to a client that stops reading: the gateway's unsent output
    for the connection stays near its high-water mark (1 MiB), far below what the streams
    produce (~40 MB), and every stream completes intact once the client reads again."""
    streams, chunks = 40, 100
    sim = sims["openai"]
    sim.chunks, sim.chunk_delay = chunks, 0.0
    payload = "x" * 10_000  # each chunk's text: one ~10 kB word
    sim.reply = " ".join([payload] * chunks)
    async with gateway() as gw, connect(gw, max_queue=2) as ws:
        for i in range(streams):
            await ws.send(create(step("openai", "ignored", stream=True, event_id=f"s{i}")))
        (conn,) = [c for c in gw.gateway.server.connections if hasattr(c, "handler")]
        peak = 0
        for _ in range(100):  # ~1 s without reading
            peak = max(peak, conn.buffered_amount)
            await asyncio.sleep(0.01)
        assert conn.is_writable is False  # the client's backlog reached the high-water mark
        got = await answers(ws, streams, timeout=60)
        peak = max(peak, conn.buffered_amount)
    # The design's bound: each stream may relay one more upstream read (at most 256 KiB on
    # uvloop and asyncio) after the connection passes its 1 MiB high-water mark, then waits.
    # Far below the ~40 MB the streams produce (and the 64 MiB hard limit that would abort).
    assert peak <= 1024 * 1024 + streams * 256 * 1024, peak
    for event_id, messages in got.items():
        assert messages[-1]["type"] == "universal.done" and "error" not in messages[-1]["metadata"], event_id
        text = "".join(chunk_text(m.get("response")) for m in messages)
        assert text.split() == [payload] * chunks, event_id


async def test_shutdown_lets_an_in_flight_stream_finish_then_closes_with_1001(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 10, 0.03
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", words(10), stream=True, event_id="last")))
            assert (await recv(ws))["type"] == "universal.created"
            stopping = asyncio.ensure_future(gw.stop(grace=10))
            messages = []
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    messages.append(await recv(ws))
            await stopping
        assert closed.value.rcvd.code == 1001
        assert messages[-1]["type"] == "universal.done"
        assert "error" not in messages[-1]["metadata"] and "cancelled" not in messages[-1]["metadata"]
        assert "".join(chunk_text(m.get("response")) for m in messages).split() == words(10).split()
        with sqlite3.connect(gw.log_db) as db:
            rows = db.execute("SELECT event_id, status, success, cancelled FROM logs").fetchall()
        assert rows == [("last", 200, 1, 0)]


async def test_shutdown_refuses_new_connections(gateway):
    async with gateway() as gw:
        url = gw.url
        await gw.stop()
        with pytest.raises(OSError):
            async with websockets.connect(url, additional_headers=gw.headers, open_timeout=2):
                pass


async def test_shutdown_past_the_grace_period_closes_with_1001_and_logs_the_request(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 100, 0.05
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", words(100), stream=True, event_id="long")))
            assert (await recv(ws))["type"] == "universal.created"
            stopping = asyncio.ensure_future(gw.stop(grace=0.2))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                while True:
                    await recv(ws)
            await stopping
        assert closed.value.rcvd.code == 1001
        with sqlite3.connect(gw.log_db) as db:
            rows = db.execute("SELECT event_id FROM logs").fetchall()
        assert rows == [("long",)]


async def test_an_idle_connection_is_closed_with_1000(gateway):
    async with gateway(server={"idle_timeout": 0.3}) as gw, connect(gw) as ws:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd.code == 1000


async def test_a_connection_with_a_request_in_flight_is_not_idle(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 20, 0.05  # ~1 s, over three idle timeouts
    async with gateway(server={"idle_timeout": 0.3}) as gw, connect(gw) as ws:
        await ws.send(create(step("openai", words(20), stream=True, event_id="busy")))
        messages = (await answers(ws, 1))["busy"]
    assert messages[-1]["type"] == "universal.done" and "error" not in messages[-1]["metadata"]
