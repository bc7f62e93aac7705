"""A streamed HTTP answer's life beside its client: a client that stops reading pauses the
upstream instead of growing the gateway's memory, and gets the whole stream once it reads
again; a client that leaves cancels the upstream request and gives its connection back."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
from doors import chat, eventually, log_rows, session, sse_data

from aigw.server.http import HttpConnection

HIGH_WATER = 1024 * 1024  # the server's default write_high_water
ONE_UPSTREAM_READ = 256 * 1024  # what a stream may relay after passing it (uvloop and asyncio)


def busy_http_connections(gw) -> list[HttpConnection]:
    return [c for c in gw.gateway.server.connections if isinstance(c, HttpConnection) and c._busy]


def upstream_reading_paused(gw) -> bool:
    """Whether a busy upstream connection has stopped reading (the gateway paused it)."""
    pools = gw.gateway._built.runtime.client._pools.values()
    return any(c.busy and c.transport is not None and not c.transport.is_reading() for pool in pools for c in pool.conns)


def upstream_busy(gw) -> int:
    """Upstream connections in use (open, not idle in a pool)."""
    return sum(open_ - idle for open_, idle, _ in gw.gateway._built.runtime.client.stats().values())


async def test_a_client_that_stops_reading_keeps_the_gateways_buffer_bounded_and_then_gets_it_all(gateway, sims):
    """A ~16 MB stream to a client that stops reading after the head: the gateway's unsent
    output stays near its high-water mark, its upstream connection stops being read, and the
    stream completes intact once the client reads again."""
    sim = sims["openai"]
    payload = "x" * 100_000
    sim.chunks, sim.chunk_delay, sim.reply = 160, 0.0, " ".join([payload] * 160)
    async with gateway() as gw, session() as http:
        url = gw.http_url + "/openai/chat/completions"
        async with http.post(url, json=chat("ignored", stream=True), headers=gw.headers, timeout=aiohttp.ClientTimeout(total=60)) as resp:
            assert resp.status == 200
            (conn,) = busy_http_connections(gw)
            peak, paused, upstream_paused = 0, False, False
            for _ in range(100):  # ~1 s without reading
                peak = max(peak, conn.unsent())
                paused = paused or not conn._writer.is_writable
                upstream_paused = upstream_paused or upstream_reading_paused(gw)
                await asyncio.sleep(0.01)
            assert paused  # the client's backlog reached the high-water mark
            # The upstream is held back, not drained into memory: the gateway stops reading it.
            # (Whether the upstream has finished writing is the kernel's business: loopback
            # buffers autotune up to tcp_rmem's maximum, 32 MiB here, and may hold the stream.)
            assert upstream_paused
            body = await resp.read()
            peak = max(peak, conn.unsent())
    # Bounded by the design: the high-water mark plus what the upstream had buffered when the
    # connection's next flush noticed it (at most one upstream buffer, 256 KiB, and one socket
    # read each side); nowhere near the 16 MB the stream holds or the 64 MiB that would abort it.
    assert peak <= HIGH_WATER + 2 * ONE_UPSTREAM_READ, peak
    data = sse_data(body)
    assert data[-1] == b"[DONE]"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in map(orjson.loads, data[:-1]) if c["choices"])
    assert text.split() == [payload] * 160
    assert gw.records[0].success


async def test_a_client_that_disconnects_mid_stream_cancels_the_upstream_and_frees_its_connection(gateway, sims):
    sim = sims["openai"]
    sim.chunks, sim.chunk_delay = 100, 0.02  # ~2 s of stream
    async with gateway() as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        body = orjson.dumps(chat(" ".join(f"w{i}" for i in range(100)), stream=True))
        head = (
            f"POST /v1/acct/default/openai/chat/completions HTTP/1.1\r\nhost: x\r\n"
            f"cf-aig-authorization: Bearer {gw.token}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode() + body)
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        assert b"data:" in await reader.readuntil(b"\n\n")  # the stream is under way
        assert upstream_busy(gw) == 1
        writer.transport.abort()  # gone without a word
        await eventually(lambda: sim.streams_aborted == 1)
        await eventually(lambda: upstream_busy(gw) == 0)
        assert sim.streams_finished == 0
        await gw.stop()
    (row,) = log_rows(gw)
    assert row["cancelled"] == 1 and row["success"] == 0


async def test_doors_answer_and_log_as_in_production_when_nobody_records_requests(gateway, sims):
    # Without the test hook the doors hand the pipeline's coroutine to the server directly.
    async with gateway(record_requests=False) as gw, session() as http:
        assert gw.records is None
        async with http.post(f"{gw.http_url}/openai/chat/completions", json=chat("a b c"), headers=gw.headers) as resp:
            assert resp.status == 200 and (await resp.json())["choices"][0]["message"]["content"] == "a b c"
        async with http.post(f"{gw.http_url}/openai/chat/completions", json=chat("d e", stream=True), headers=gw.headers) as resp:
            assert resp.status == 200 and sse_data(await resp.read())[-1] == b"[DONE]"
        compat = {"model": "anthropic/claude-sonnet-4-5", "messages": [{"role": "user", "content": "f g"}]}
        async with http.post(f"{gw.http_url}/compat/chat/completions", json=compat, headers=gw.headers) as resp:
            assert resp.status == 200 and (await resp.json())["choices"][0]["message"]["content"] == "f g"
        await gw.stop()
    rows = log_rows(gw)
    assert [(r["request_type"], r["provider"], r["stream"], r["success"]) for r in rows] == [
        ("provider", "openai", 0, 1), ("provider", "openai", 1, 1), ("compat", "anthropic", 0, 1),
    ]  # fmt: skip
