"""UpstreamChunks.pump: a streamed body handed to a consumer from the upstream connection's
data_received, against real streamed responses (aiohttp apps and raw sockets).

Every test runs twice: with the native push (the exchange's receiver feeding a pushed body's
reads, `_codec.ChunkPushes`' `on_data`) and with the Python that specifies it
(`Connection._received` → `_feed_body` → `UpstreamResponse._feed` → `UpstreamChunks._on_data`)."""

from __future__ import annotations

import asyncio
import gzip
import weakref

import pytest
from aiohttp import web

from aigw import upstream_chunks
from aigw.upstream import UpstreamClient, UpstreamProtocolError
from aigw.upstream import client as client_module
from aigw.upstream.connection import Connection
from aigw.upstream_chunks import StreamFailed, StreamIdleTimeout, UpstreamChunks

from raw_http import read_request


class _PythonExchange:
    """The exchange's `receiver` as the Python methods it stands in for (holds the connection
    weakly, as the native one does)."""

    @staticmethod
    def receiver(conn: Connection):
        ref = weakref.ref(conn)
        return lambda data: ref()._received(data)


class _NoPushes:
    @staticmethod
    def make(chunks):
        return None


@pytest.fixture(autouse=True, params=["native", "python"])
def push_path(request, monkeypatch):
    """Which code feeds a pushed body: the native receiver and on_data, or the Python."""
    if request.param == "python":
        monkeypatch.setattr(client_module, "_EXCHANGE", _PythonExchange)
        monkeypatch.setattr(upstream_chunks, "_PUSHES", _NoPushes)
    return request.param


@pytest.fixture
def python_feeds(monkeypatch):
    """How many reads reached `Connection._feed_body` (the native path feeds a pushed body's
    usual reads without it)."""
    calls = []
    feed_body = Connection._feed_body
    monkeypatch.setattr(Connection, "_feed_body", lambda conn, data: (calls.append(bytes(data)), feed_body(conn, data))[1])
    return calls


def raw_body(head: bytes, pieces: list[bytes], *, close: bool = False):
    """A raw handler answering each request with `head`, then each of `pieces` as its own
    write 5 ms apart; `close`: then closes the connection."""

    async def handler(reader, writer):
        while True:
            await read_request(reader)
            writer.write(head)
            for piece in pieces:
                await writer.drain()
                await asyncio.sleep(0.005)
                writer.write(piece)
            await writer.drain()
            if close:
                writer.close()
                return

    return handler


def paced_app(pieces: list[bytes | float], *, headers: dict[str, str] | None = None, stall: bool = False) -> web.Application:
    """/stream writes each bytes item of `pieces` as one network write and sleeps for each float;
    `stall`: then hangs without ending the body. /port answers the peer's port (which
    connection a request used)."""

    async def stream(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", **(headers or {})})
        await resp.prepare(request)
        for p in pieces:
            if isinstance(p, float):
                await asyncio.sleep(p)
            else:
                await resp.write(p)
        if stall:
            await asyncio.sleep(30)
        return resp

    async def port(request):
        return web.Response(text=str(request.transport.get_extra_info("peername")[1]))

    app = web.Application()
    app.router.add_get("/stream", stream)
    app.router.add_get("/port", port)
    return app


async def peer_port(client: UpstreamClient, base: str) -> str:
    resp = await client.request("GET", base + "/port")
    return (await resp.read()).decode()


async def never_drained() -> None:
    raise AssertionError("the consumer never said it was full")


async def pump_all(chunks: UpstreamChunks) -> list[bytes]:
    seen: list[bytes] = []

    def consume(chunk: bytes) -> bool:
        seen.append(chunk)
        return True

    await chunks.pump(consume, never_drained)
    return seen


async def test_every_chunk_reaches_the_consumer_in_order_and_the_connection_is_reused(aiohttp_server):
    pieces = [b"data: %d\n\n" % i for i in range(20)]
    async with aiohttp_server(paced_app([x for p in pieces for x in (p, 0.002)])) as base, UpstreamClient() as client:
        before = await peer_port(client, base)
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        seen = await pump_all(chunks)
        assert b"".join(seen) == b"".join(pieces)
        assert chunks.received == len(seen)
        assert await peer_port(client, base) == before


async def test_the_prefetched_first_chunk_is_handed_over_first(aiohttp_server):
    async with aiohttp_server(paced_app([b"one\n", 0.01, b"two\n"])) as base, UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        assert await chunks.prefetch()
        assert await pump_all(chunks) == [b"one\n", b"two\n"]


async def test_the_idle_timeout_counts_from_the_last_pushed_chunk(aiohttp_server):
    # Gaps of 60 ms under a 100 ms timeout, 180 ms in all, then silence.
    pieces = [b"a\n", 0.06, b"b\n", 0.06, b"c\n", 0.06, b"d\n"]
    async with aiohttp_server(paced_app(pieces, stall=True)) as base, UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), 0.1, "step 0")
        seen: list[bytes] = []
        with pytest.raises(StreamIdleTimeout, match="100 ms"):
            await chunks.pump(lambda c: seen.append(c) or True, never_drained)
        assert b"".join(seen) == b"a\nb\nc\nd\n"


async def test_a_full_consumer_pauses_the_upstream_until_drained(aiohttp_server):
    pieces = [x for i in range(30) for x in (b"x" * 1000 + b"\n", 0.002)]
    async with aiohttp_server(paced_app(pieces)) as base, UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), 0.05, "step 0")
        seen: list[bytes] = []
        full = asyncio.Event()
        room = asyncio.Event()

        def consume(chunk: bytes) -> bool:
            assert not full.is_set(), "a chunk was pushed while the consumer was full"
            seen.append(chunk)
            if len(seen) == 3:
                full.set()
                return False
            return True

        async def drained() -> None:
            await room.wait()
            full.clear()

        task = asyncio.create_task(chunks.pump(consume, drained))
        await full.wait()
        await asyncio.sleep(0.15)  # longer than the idle timeout: being behind is not idling
        assert len(seen) == 3
        room.set()
        await task
        assert b"".join(seen) == b"".join(p for p in pieces if isinstance(p, bytes))


async def test_a_consumer_that_raises_ends_the_pump_and_discards_the_connection(aiohttp_server):
    pieces = [x for i in range(10) for x in (b"data: %d\n\n" % i, 0.002)]
    async with aiohttp_server(paced_app(pieces)) as base, UpstreamClient() as client:
        before = await peer_port(client, base)
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        seen: list[bytes] = []

        def consume(chunk: bytes) -> bool:
            seen.append(chunk)
            if len(seen) == 2:
                raise ValueError("malformed")
            return True

        with pytest.raises(ValueError, match="malformed"):
            await chunks.pump(consume, never_drained)
        assert len(seen) == 2
        assert await peer_port(client, base) != before  # the half-read connection was not reused


async def test_a_compressed_body_is_inflated_and_handed_over(aiohttp_server):
    body = b"".join(b"data: %d\n\n" % i for i in range(500))
    packed = gzip.compress(body)
    pieces = [packed[i : i + 300] for i in range(0, len(packed), 300)]
    app = paced_app([x for p in pieces for x in (p, 0.001)], headers={"Content-Encoding": "gzip"})
    async with aiohttp_server(app) as base, UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        assert b"".join(await pump_all(chunks)) == body


async def test_an_upstream_that_breaks_mid_stream_is_a_stream_failure(aiohttp_server):
    async def broken(request):
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Content-Length": "1000"})
        await resp.prepare(request)
        await resp.write(b"data: 1\n\n")
        await asyncio.sleep(0.01)
        request.transport.abort()
        return resp

    app = web.Application()
    app.router.add_get("/stream", broken)
    async with aiohttp_server(app) as base, UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        seen: list[bytes] = []
        with pytest.raises(StreamFailed, match="step 0"):
            await chunks.pump(lambda c: seen.append(c) or True, never_drained)
        assert seen == [b"data: 1\n\n"]


async def test_cancelling_the_pump_discards_the_connection(aiohttp_server):
    async with aiohttp_server(paced_app([b"a\n"], stall=True)) as base, UpstreamClient() as client:
        before = await peer_port(client, base)
        chunks = UpstreamChunks(await client.request("GET", base + "/stream"), None, "step 0")
        got = asyncio.Event()
        task = asyncio.create_task(chunks.pump(lambda c: got.set() or True, never_drained))
        await got.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await peer_port(client, base) != before


class StandIn:
    """A response without push_to or next_chunk (what a test or plugin might hand in)."""

    buffered = 0
    complete = False

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.closed = False

    async def _chunks(self):
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece

    def iter_chunks(self):
        return self._chunks()

    def close(self) -> None:
        self.closed = True


async def test_a_response_that_cannot_push_is_iterated_to_the_consumer():
    chunks = UpstreamChunks(StandIn([b"a", b"b", b"c"]), 1.0, "step 0")
    assert await pump_all(chunks) == [b"a", b"b", b"c"]
    assert chunks.received == 3


async def test_a_pushed_chunked_body_is_fed_without_the_python_feed(raw_server, push_path, python_feeds):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    pieces = [b"5\r\nhello\r\n", b"6\r\n world\r\n", b"1\r\n!\r\n0\r\n\r\n"]
    async with raw_server(raw_body(head, pieces)) as (base, accepted), UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/"), None, "step 0")
        assert await pump_all(chunks) == [b"hello", b" world", b"!"]
        assert chunks.received == 3
        assert (python_feeds == []) == (push_path == "native")
        assert await (await client.request("GET", base + "/")).read() == b"hello world!"
        assert len(accepted) == 1  # the connection went back to the pool after the pushed body


async def test_a_pushed_length_body_is_fed_to_its_end_without_the_python_feed(raw_server, push_path, python_feeds):
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n"
    async with raw_server(raw_body(head, [b"hello", b" world", b"!"])) as (base, accepted), UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/"), None, "step 0")
        assert await pump_all(chunks) == [b"hello", b" world", b"!"]
        assert (python_feeds == []) == (push_path == "native")
        assert await (await client.request("GET", base + "/")).read() == b"hello world!"
        assert len(accepted) == 1


async def test_a_pushed_body_read_to_close_ends_with_the_connection(raw_server, push_path, python_feeds):
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
    async with raw_server(raw_body(head, [b"hello", b" world"], close=True)) as (base, _), UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/"), None, "step 0")
        assert await pump_all(chunks) == [b"hello", b" world"]
    assert (python_feeds == []) == (push_path == "native")


async def test_a_malformed_chunk_in_a_pushed_body_is_a_stream_failure(raw_server):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with raw_server(raw_body(head, [b"5\r\nhello\r\n", b"zz\r\n"])) as (base, accepted), UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/"), None, "step 0")
        seen: list[bytes] = []
        with pytest.raises(StreamFailed, match="invalid chunked body"):
            await chunks.pump(lambda c: seen.append(c) or True, never_drained)
        assert seen == [b"hello"]
        with pytest.raises(UpstreamProtocolError):  # the same answer again, on a new connection
            await (await client.request("GET", base + "/")).read()
        assert len(accepted) == 2  # the broken connection was not reused



async def test_the_body_that_came_with_a_streamed_head_is_handed_over_first(raw_server, push_path):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
    async with raw_server(raw_body(head, [b"6\r\n world\r\n", b"0\r\n\r\n"])) as (base, accepted), UpstreamClient() as client:
        chunks = UpstreamChunks(await client.request("GET", base + "/"), None, "step 0")
        assert await pump_all(chunks) == [b"hello", b" world"]
        assert await (await client.request("GET", base + "/")).read() == b"hello world"
        assert len(accepted) == 1


async def test_a_stream_past_the_total_timeout_fails_after_its_first_chunks(raw_server, push_path):
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    async with raw_server(raw_body(head, [b"5\r\nhello\r\n"])) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/", total_timeout=0.2)
        chunks = UpstreamChunks(resp, None, "step 0")
        seen: list[bytes] = []
        with pytest.raises(StreamIdleTimeout, match="not complete within total_timeout"):
            await chunks.pump(lambda c: seen.append(c) or True, never_drained)
        assert seen == [b"hello"]
