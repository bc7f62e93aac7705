"""UpstreamClient against independent servers (aiohttp apps, scripted raw sockets)."""

import asyncio
import gzip
import os
import sys
import zlib

import pytest
from aiohttp import web

from aigw.upstream import (
    ConnectTimeout,
    FirstByteTimeout,
    TotalTimeout,
    UpstreamClient,
    UpstreamConnectError,
    UpstreamConnectionClosed,
    UpstreamProtocolError,
)

from raw_http import read_request



def peer_port(request: web.Request) -> int:
    return request.transport.get_extra_info("peername")[1]


def app_with(**routes) -> web.Application:
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", "/" + path, handler)
    return app


async def hello(request):
    return web.Response(text=f"hello from {peer_port(request)}")


async def echo(request):
    body = await request.read()
    return web.Response(body=request.method.encode() + b" " + body, headers={"X-Seen-Length": request.headers.get("Content-Length", "-")})


async def test_sequential_requests_reuse_one_connection(aiohttp_server):
    async with aiohttp_server(app_with(hello=hello)) as base, UpstreamClient() as client:
        bodies = []
        for _ in range(3):
            resp = await client.request("GET", base + "/hello")
            bodies.append(await resp.read())
        assert resp.status == 200 and resp.reason == "OK"
        assert len(set(bodies)) == 1
        assert bodies[0].startswith(b"hello from ")


async def test_the_running_loop_is_asked_for_once_not_per_request(aiohttp_server, monkeypatch):
    # CPython 3.11's get_running_loop() makes a getpid() system call each time.
    asked = []
    real = asyncio.get_running_loop

    def get_running_loop():  # asyncio's own, counting the client's calls
        asked.extend(["client"] if sys._getframe(1).f_code.co_filename.endswith(os.path.join("upstream", "client.py")) else [])
        return real()

    monkeypatch.setattr(asyncio, "get_running_loop", get_running_loop)
    async with aiohttp_server(app_with(hello=hello)) as base, UpstreamClient() as client:
        for _ in range(3):
            await (await client.request("GET", base + "/hello")).read()
    assert len(asked) == 1


async def test_request_body_is_sent_with_content_length(aiohttp_server):
    async with aiohttp_server(app_with(echo=echo)) as base, UpstreamClient() as client:
        resp = await client.request("POST", base + "/echo", [("Content-Type", "application/json")], b'{"a":1}')
        assert await resp.read() == b'POST {"a":1}'
        assert resp.get("x-seen-length") == b"7"
        assert resp.headers.get(b"X-SEEN-LENGTH") == b"7"
        assert resp.headers.get_all("X-Seen-Length") == [b"7"]
        assert (b"x-seen-length", b"7") in resp.raw_headers


async def test_chunked_body_is_decoded(aiohttp_server):
    async def chunked(request):
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(5):
            await resp.write(f"part{i};".encode())
            await asyncio.sleep(0.01)
        await resp.write_eof()
        return resp

    async with aiohttp_server(app_with(chunked=chunked)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/chunked")
        assert resp.get("transfer-encoding") == b"chunked"
        assert await resp.read() == b"part0;part1;part2;part3;part4;"
        # the connection went back to the pool and serves the next request
        resp2 = await client.request("GET", base + "/chunked")
        assert await resp2.read() == b"part0;part1;part2;part3;part4;"
        (size, idle, waiting), = client.stats().values()
        assert (size, idle, waiting) == (1, 1, 0)


async def test_iter_chunks_yields_the_body_as_it_arrives(aiohttp_server):
    async def stream(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        for i in range(3):
            await resp.write(b"x" * 1000)
            await asyncio.sleep(0.02)
        return resp

    async with aiohttp_server(app_with(stream=stream)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        chunks = [c async for c in resp.iter_chunks()]
        assert b"".join(chunks) == b"x" * 3000
        assert all(chunks)


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_compressed_bodies_are_decoded(coding, aiohttp_server):
    text = b"the quick brown fox " * 500

    async def compressed(request):
        body = gzip.compress(text) if coding == "gzip" else zlib.compress(text)
        return web.Response(body=body, headers={"Content-Encoding": coding})

    async with aiohttp_server(app_with(z=compressed)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/z", {"Accept-Encoding": coding})
        assert resp.get("content-encoding") == coding.encode()
        assert await resp.read() == text


async def test_decode_content_false_keeps_the_compressed_bytes(aiohttp_server):
    async def compressed(request):
        return web.Response(body=gzip.compress(b"abc"), headers={"Content-Encoding": "gzip"})

    async with aiohttp_server(app_with(z=compressed)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/z", decode_content=False)
        assert gzip.decompress(await resp.read()) == b"abc"


async def test_read_now_takes_a_body_that_is_all_here_without_waiting(aiohttp_server):
    async with aiohttp_server(app_with(hello=hello)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/hello")
        await asyncio.wait_for(eventually_complete(resp), 5)
        body = resp.read_now()
        assert body is not None and body.startswith(b"hello from ")
        assert await resp.read() == b""  # the body was taken: what is left is its end
        resp2 = await client.request("GET", base + "/hello")  # and the connection was reused
        assert await resp2.read() == body


async def test_read_now_is_none_while_the_body_is_on_its_way(aiohttp_server):
    async def slow(request):
        resp = web.StreamResponse()
        resp.content_length = 6
        await resp.prepare(request)
        await resp.write(b"abc")
        await asyncio.sleep(0.1)
        await resp.write(b"def")
        return resp

    async with aiohttp_server(app_with(slow=slow)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/slow")
        assert resp.read_now() is None
        assert await resp.read() == b"abcdef"


async def test_read_now_leaves_a_compressed_body_to_read(aiohttp_server):
    async def compressed(request):
        return web.Response(body=gzip.compress(b"abc"), headers={"Content-Encoding": "gzip"})

    async with aiohttp_server(app_with(z=compressed)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/z", {"Accept-Encoding": "gzip"})
        await asyncio.wait_for(eventually_complete(resp), 5)
        assert resp.read_now() is None
        assert await resp.read() == b"abc"


async def test_a_body_that_came_with_its_head_is_complete_and_its_connection_idle_at_once(raw_server):
    async def whole(reader, writer):
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")  # one write, one read
            await writer.drain()

    async with raw_server(whole) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        assert resp.complete
        assert list(client.stats().values()) == [(1, 1, 0)]  # open, idle, waiting: back already
        assert resp.read_now() == b"hello"
        again = await client.request("GET", base + "/")  # on the same connection
        assert (await again.read(), list(client.stats().values())) == (b"hello", [(1, 1, 0)])


WHOLE_REPLIES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 503 Busy\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=1\r\n\r\nhello",
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=\xe9\r\ncontent-type: text/html\r\nContent-Length: 5\r\n\r\nhello",
]


@pytest.mark.parametrize("reply", WHOLE_REPLIES, ids=lambda r: r.split(b"\r\n\r\n")[0].decode("latin-1").replace("\r\n", " | "))
async def test_an_answer_that_comes_whole_is_taken_as_one_framed_read_by_read_would_be(reply, raw_server):
    """Head and body in one read take the parser's whole-answer path; the same bytes in two
    reads (the body split) are framed field by field. Both give the same response, and
    leave the connection in the same state (kept, closed, or kept for less time)."""

    async def outcome(split: bool):
        async def serve(reader, writer):
            await read_request(reader)
            if split:
                writer.write(reply[:-2])
                await writer.drain()
                await asyncio.sleep(0.05)
                writer.write(reply[-2:])
            else:
                writer.write(reply)
            await writer.drain()
            await reader.read()  # hold the connection open until the client closes it

        async with raw_server(serve) as (base, _), UpstreamClient(idle_timeout=60) as client:
            resp = await client.request("GET", base + "/")
            body = await resp.read()
            await asyncio.sleep(0.02)
            return resp.status, resp.reason, resp.http_minor, list(resp.headers), resp.content_type, body, list(client.stats().values())

    whole, split = await outcome(split=False), await outcome(split=True)
    assert whole == split


@pytest.mark.parametrize(
    ("fields", "content_type"),
    [
        (b"Content-Type: application/json\r\n", "application/json"),
        (b"content-type: text/plain; charset=\xe9\r\nContent-Type: text/html\r\n", "text/plain; charset=\xe9"),  # the first, latin-1
        (b"", ""),
    ],
)
@pytest.mark.parametrize("body_framing", [b"Content-Length: 2\r\n\r\n{}", b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"])
async def test_content_type_is_the_first_content_type_field_as_text(fields, content_type, body_framing, raw_server):
    async def serve(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + fields + body_framing)
        await writer.drain()
        await reader.read()

    async with raw_server(serve) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        assert resp.content_type == content_type
        assert resp.content_type == (resp.headers.get("content-type") or b"").decode("latin-1")
        await resp.read()


async def eventually_complete(resp) -> None:
    while not resp.complete:
        await asyncio.sleep(0.005)


async def test_head_request_and_204_have_no_body(aiohttp_server):
    async def nothing(request):
        return web.Response(status=204)

    async with aiohttp_server(app_with(hello=hello, empty=nothing)) as base, UpstreamClient() as client:
        resp = await client.request("HEAD", base + "/hello")
        assert resp.status == 200 and int(resp.get("content-length")) > 0
        assert await resp.read() == b""
        resp = await client.request("DELETE", base + "/empty")
        assert (resp.status, await resp.read()) == (204, b"")
        resp = await client.request("GET", base + "/hello")
        assert (await resp.read()).startswith(b"hello")
        assert [v[0] for v in client.stats().values()] == [1]


async def test_slow_response_head_raises_first_byte_timeout(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    async with aiohttp_server(app_with(slow=slow)) as base, UpstreamClient() as client:
        with pytest.raises(FirstByteTimeout):
            await client.request("GET", base + "/slow", first_byte_timeout=0.2)
        assert [v[0] for v in client.stats().values()] == [0]


async def test_slow_body_raises_total_timeout(aiohttp_server):
    async def slow_body(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"first")
        await asyncio.sleep(5)
        return resp

    async with aiohttp_server(app_with(slow=slow_body)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/slow", total_timeout=0.3)
        with pytest.raises(TotalTimeout):
            await resp.read()


async def test_a_timeout_left_over_from_an_earlier_request_does_not_fire_on_the_next(aiohttp_server):
    async def slowish(request):
        await asyncio.sleep(0.3)
        return web.Response(text="in time")

    async with aiohttp_server(app_with(hello=hello, slowish=slowish)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/hello", first_byte_timeout=0.2)
        await resp.read()
        # Same keep-alive connection; the first request's 0.2 s deadline passes while this
        # one (allowed 2 s) waits for its head.
        resp = await client.request("GET", base + "/slowish", first_byte_timeout=2.0)
        assert await resp.read() == b"in time"
        assert [v[0] for v in client.stats().values()] == [1]


async def test_a_shorter_timeout_on_a_reused_connection_fires_on_time(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    async with aiohttp_server(app_with(hello=hello, slow=slow)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/hello", first_byte_timeout=30)
        await resp.read()
        # The first request's timer (30 s) is still pending; reusing it would wait for "late".
        with pytest.raises(FirstByteTimeout):
            await client.request("GET", base + "/slow", first_byte_timeout=0.2)


async def test_requests_queue_when_the_pool_is_full(aiohttp_server):
    ports = set()

    async def slowish(request):
        ports.add(peer_port(request))
        await asyncio.sleep(0.05)
        return web.Response(text="ok")

    async with aiohttp_server(app_with(s=slowish)) as base, UpstreamClient(max_connections_per_host=1) as client:

        async def one():
            resp = await client.request("GET", base + "/s")
            return await resp.read()

        assert await asyncio.gather(*(one() for _ in range(4))) == [b"ok"] * 4
        assert len(ports) == 1


async def test_waiting_for_a_pool_slot_counts_against_the_connect_timeout(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    async with aiohttp_server(app_with(slow=slow)) as base, UpstreamClient(max_connections_per_host=1) as client:
        busy = asyncio.ensure_future(client.request("GET", base + "/slow"))
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectTimeout):
            await client.request("GET", base + "/slow", connect_timeout=0.1)
        busy.cancel()


async def test_connection_refused_is_a_connect_error():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with UpstreamClient() as client:
        with pytest.raises(UpstreamConnectError):
            await client.request("GET", f"http://127.0.0.1:{port}/")


async def test_idle_connection_closed_by_the_server_is_replaced(aiohttp_server):
    async with aiohttp_server(app_with(hello=hello), keepalive_timeout=0.05) as base, UpstreamClient() as client:
        first = await (await client.request("GET", base + "/hello")).read()
        await asyncio.sleep(0.3)  # the server closes the idle keep-alive connection meanwhile
        second = await (await client.request("GET", base + "/hello")).read()
        assert first != second  # served on a new connection


async def test_idle_connections_expire_after_idle_timeout(aiohttp_server):
    async with aiohttp_server(app_with(hello=hello)) as base, UpstreamClient(idle_timeout=0.05) as client:
        first = await (await client.request("GET", base + "/hello")).read()
        assert [v[:2] for v in client.stats().values()] == [(1, 1)]
        await asyncio.sleep(0.2)
        assert [v[:2] for v in client.stats().values()] == [(0, 0)]
        assert await (await client.request("GET", base + "/hello")).read() != first


async def test_server_keep_alive_timeout_shortens_the_idle_time(aiohttp_server):
    async def short(request):
        return web.Response(text="ok", headers={"Keep-Alive": "timeout=1"})

    async with aiohttp_server(app_with(short=short)) as base, UpstreamClient(idle_timeout=60) as client:
        await (await client.request("GET", base + "/short")).read()
        await asyncio.sleep(0.05)  # timeout=1 leaves no safe idle time: closed at once
        assert [v[0] for v in client.stats().values()] == [0]


async def test_connection_close_response_is_not_reused(aiohttp_server):
    async def closing(request):
        resp = web.Response(text=str(peer_port(request)))
        resp.force_close()
        return resp

    async with aiohttp_server(app_with(closing=closing)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/closing")
        first = await resp.read()
        assert resp.get("connection") == b"close"
        assert await (await client.request("GET", base + "/closing")).read() != first


def keep_alive_then_drop(raw_server):
    """A server that answers the first request on each connection, then closes the connection
    without answering the second: the keep-alive race, made deterministic."""

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst")
        await writer.drain()
        await read_request(reader)

    return raw_server(handler)


async def test_idempotent_request_on_a_dropped_reused_connection_is_retried_once(raw_server):
    async with keep_alive_then_drop(raw_server) as (base, accepted), UpstreamClient() as client:
        assert await (await client.request("GET", base + "/")).read() == b"first"
        assert await (await client.request("GET", base + "/")).read() == b"first"
        assert len(accepted) == 2


async def test_post_on_a_dropped_reused_connection_is_not_retried(raw_server):
    async with keep_alive_then_drop(raw_server) as (base, accepted), UpstreamClient() as client:
        await (await client.request("POST", base + "/", body=b"{}")).read()
        with pytest.raises(UpstreamConnectionClosed):
            await client.request("POST", base + "/", body=b"{}")
        assert len(accepted) == 1


async def test_post_with_an_idempotency_key_is_retried(raw_server):
    async with keep_alive_then_drop(raw_server) as (base, accepted), UpstreamClient() as client:
        await (await client.request("POST", base + "/", body=b"{}")).read()
        resp = await client.request("POST", base + "/", {"Idempotency-Key": "k1"}, b"{}")
        assert await resp.read() == b"first"


async def test_a_new_connection_closing_before_the_response_is_not_retried(raw_server):
    async def drop(reader, writer):
        await read_request(reader)

    async with raw_server(drop) as (base, accepted), UpstreamClient() as client:
        with pytest.raises(UpstreamConnectionClosed):
            await client.request("GET", base + "/")
        assert len(accepted) == 1


async def test_reset_mid_body_is_an_error(raw_server):
    async def reset(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.transport.abort()

    async with raw_server(reset) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        with pytest.raises(UpstreamConnectionClosed):
            await resp.read()


async def test_body_until_close_without_length(raw_server):
    async def http10(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        await writer.drain()
        writer.close()

    async with raw_server(http10) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        assert (resp.http_minor, await resp.read()) == (0, b"all of it")


async def test_interim_103_response_is_skipped(raw_server):
    async def early_hints(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        await reader.read()

    async with raw_server(early_hints) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        assert (resp.status, await resp.read()) == (200, b"ok")


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
)
async def test_malformed_responses_are_protocol_errors(reply, raw_server):
    async def bad(reader, writer):
        await read_request(reader)
        writer.write(reply)
        await writer.drain()
        await reader.read()

    async with raw_server(bad) as (base, _), UpstreamClient() as client:
        with pytest.raises(UpstreamProtocolError):
            resp = await client.request("GET", base + "/")
            await resp.read()


@pytest.mark.parametrize(
    "lengths",
    [b"Content-Length: 2\r\nContent-Length: 2\r\n", b"Content-Length: 2, 2\r\n", b"Content-Length: 2 ,2\r\n"],
)
async def test_a_repeated_content_length_that_agrees_frames_the_body(lengths, raw_server):
    async def repeated(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n" + lengths + b"\r\nok")
        await writer.drain()
        await reader.read()

    async with raw_server(repeated) as (base, _), UpstreamClient() as client:
        resp = await client.request("GET", base + "/")
        assert (resp.status, await resp.read()) == (200, b"ok")


async def test_slow_consumer_pauses_reading_and_the_buffer_stays_bounded(aiohttp_server):
    size = 8 * 1024 * 1024

    async def big(request):
        resp = web.StreamResponse()
        resp.content_length = size
        await resp.prepare(request)
        block = b"y" * 65536
        for _ in range(size // len(block)):
            await resp.write(block)
        return resp

    async with aiohttp_server(app_with(big=big)) as base, UpstreamClient(buffer_limit=64 * 1024) as client:
        resp = await client.request("GET", base + "/big")
        await asyncio.sleep(0.2)  # give the server every chance to push the whole body
        assert 0 < resp.buffered < 1024 * 1024
        total = 0
        async for chunk in resp.iter_chunks():
            total += len(chunk)
        assert total == size


async def test_closing_an_unfinished_response_discards_its_connection(aiohttp_server):
    async def stream(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(f"{peer_port(request)}|".encode())
        await asyncio.sleep(5)
        return resp

    async with aiohttp_server(app_with(stream=stream, hello=hello)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        first = await resp.iter_chunks().__anext__()
        resp.close()
        with pytest.raises(UpstreamConnectionClosed):
            await resp.read()
        hello_body = await (await client.request("GET", base + "/hello")).read()
        assert not hello_body.endswith(first.rstrip(b"|"))


async def test_cancelled_request_discards_its_connection(aiohttp_server):
    async def slow(request):
        await asyncio.sleep(5)
        return web.Response(text="late")

    async with aiohttp_server(app_with(slow=slow)) as base, UpstreamClient() as client:
        task = asyncio.ensure_future(client.request("GET", base + "/slow"))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert [v[0] for v in client.stats().values()] == [0]


async def test_cancelling_a_body_reader_discards_the_connection(aiohttp_server):
    async def stream(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"start")
        await asyncio.sleep(5)
        return resp

    async with aiohttp_server(app_with(stream=stream)) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        reader = asyncio.ensure_future(resp.read())
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        await asyncio.sleep(0)
        assert [v[0] for v in client.stats().values()] == [0]


async def test_header_values_with_line_breaks_are_refused():
    async with UpstreamClient() as client:
        with pytest.raises(ValueError):
            await client.request("GET", "http://127.0.0.1:9/", {"X-A": "a\r\nInjected: yes"})
        with pytest.raises(ValueError):
            await client.request("GET", "http://127.0.0.1:9/a b")
        with pytest.raises(ValueError):
            await client.request("GET /x", "http://127.0.0.1:9/")


async def test_a_repeated_head_carries_each_bodys_own_content_length(aiohttp_server):
    # The client caches a head's fields per (method, URL, fields): the length is per body.
    async with aiohttp_server(app_with(echo=echo)) as base, UpstreamClient() as client:
        for body in (b'{"a":1}', b'{"a":12345}', b""):
            resp = await client.request("POST", base + "/echo", [("Content-Type", "application/json")], body)
            assert await resp.read() == b"POST " + body
            assert resp.get("x-seen-length") == str(len(body)).encode()


async def test_a_header_with_a_line_break_is_refused_every_time():
    async with UpstreamClient() as client:
        for _ in range(2):  # the refused head is not cached as if it were good
            with pytest.raises(ValueError, match="CR or LF"):
                await client.request("POST", "http://127.0.0.1:9/v1/x", [("X-A", "1\r\nX-Injected: 1")], b"{}")
