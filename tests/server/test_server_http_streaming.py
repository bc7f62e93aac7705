"""Streamed HTTP answers over real sockets with aiohttp as the client: an app returns
``StreamedResponse(produce)`` and pushes the answer through a ``ResponseWriter``."""

import asyncio

import aiohttp
import pytest
from server_helpers import RawClient, TestApp

from aigw.server import ConnectionClosed, HttpResponse, ServerSettings, StreamedResponse, serve

HIGH = 256 * 1024
CHUNK = 64 * 1024


def streaming_app(produce, **kwargs) -> TestApp:
    """An app whose every plain request is answered by `produce(request, response)`."""

    async def http(request):
        return StreamedResponse(lambda response: produce(request, response))

    return TestApp(http=http, **kwargs)


async def test_chunks_arrive_as_they_are_written():
    read_one = asyncio.Event()

    async def produce(request, response):
        response.start(200, [("content-type", "text/event-stream")])
        for i in range(3):
            response.write(b"data: %d\n\n" % i)
            await read_one.wait()  # the next chunk only once the client has read this one
            read_one.clear()
        response.end()

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert response.headers["Transfer-Encoding"] == "chunked"
                for i in range(3):
                    assert await response.content.readuntil(b"\n\n") == b"data: %d\n\n" % i
                    read_one.set()
                assert await response.read() == b""


async def test_a_client_that_stops_reading_pauses_the_producer_and_gets_everything_when_it_resumes():
    total = 400  # 25 MiB: more than loopback socket buffers and aiohttp's own can absorb
    seen = {"waits": 0, "max_unsent": 0}
    paused = asyncio.Event()

    async def produce(request, response):
        response.start(200, [("content-type", "application/octet-stream")])
        conn = response._channel
        for i in range(total):
            if not response.is_writable:
                seen["waits"] += 1
                paused.set()
                await response.drained()
            response.write(i.to_bytes(4, "big") * (CHUNK // 4))
            seen["max_unsent"] = max(seen["max_unsent"], conn.unsent())
            await asyncio.sleep(0)
        response.end()

    settings = ServerSettings(write_high_water=HIGH, write_low_water=HIGH // 4)
    async with await serve(streaming_app(produce), settings=settings) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/", read_bufsize=CHUNK) as response:
                await asyncio.wait_for(paused.wait(), 5)  # we read nothing: the producer waits
                await asyncio.sleep(0.1)
                waits_while_stopped = seen["waits"]
                await asyncio.sleep(0.2)
                assert seen["waits"] == waits_while_stopped  # still parked in drained()
                body = await response.read()
        assert len(body) == total * CHUNK
        assert [body[i * CHUNK:i * CHUNK + 4] for i in range(total)] == [i.to_bytes(4, "big") for i in range(total)]
        assert seen["waits"] > 0
        assert seen["max_unsent"] <= HIGH + 2 * (CHUNK + 16)


async def test_a_producer_that_ignores_flow_control_is_cut_off_at_the_hard_limit():
    outcome = asyncio.get_running_loop().create_future()

    async def produce(request, response):
        response.start(200)
        try:
            while True:
                response.write(b"f" * (256 * 1024))
                await asyncio.sleep(0)
        except ConnectionClosed as e:
            outcome.set_result((e, response._channel.unsent()))

    settings = ServerSettings(write_high_water=HIGH, write_low_water=HIGH // 4, write_hard_limit=2 * 1024 * 1024)
    async with await serve(streaming_app(produce), settings=settings) as server:
        client = await RawClient.open(server.port)  # never reads the answer
        client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        error, unsent = await asyncio.wait_for(outcome, 10)
        assert "not reading" in error.reason
        assert unsent <= 2 * 1024 * 1024 + 256 * 1024 + 64
        client.writer.transport.abort()


@pytest.mark.parametrize("started", [False, True], ids=["waiting-for-the-answer", "mid-stream"])
async def test_a_client_disconnect_cancels_the_request(started):
    running = asyncio.Event()
    cancelled = asyncio.Event()

    async def produce(request, response):
        if started:
            response.start(200)
            response.write(b"first")
        running.set()
        try:
            await asyncio.sleep(30)  # an upstream that has not answered yet
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with await serve(streaming_app(produce)) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(running.wait(), 5)
        client.writer.transport.abort()
        await asyncio.wait_for(cancelled.wait(), 2)


async def test_write_after_the_client_left_raises_connection_closed():
    outcome = asyncio.get_running_loop().create_future()
    gone = asyncio.Event()

    async def produce(request, response):
        response.start(200)
        response.write(b"first")
        await gone.wait()
        await asyncio.sleep(0.2)
        try:
            response.write(b"second")
            await response.drained()
        except ConnectionClosed as e:
            outcome.set_result(e)

    async def http(request):
        async def shielded(response):
            await asyncio.shield(asyncio.ensure_future(produce(request, response)))  # outlives the cancel

        return StreamedResponse(shielded)

    async with await serve(TestApp(http=http)) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await client.reader.readuntil(b"first")
        client.writer.transport.abort()
        gone.set()
        assert isinstance(await asyncio.wait_for(outcome, 5), ConnectionClosed)


async def test_abort_after_start_makes_the_client_raise():
    async def produce(request, response):
        response.start(200, [("content-type", "text/event-stream")])
        response.write(b"data: partial\n\n")
        await asyncio.sleep(0.05)
        response.abort()

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()


async def test_abort_short_of_the_content_length_makes_the_client_raise():
    async def produce(request, response):
        response.start(200, content_length=100)
        response.write(b"x" * 40)
        await asyncio.sleep(0.05)
        response.abort()

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()


async def test_an_exception_after_start_aborts_the_response():
    async def produce(request, response):
        response.start(200)
        response.write(b"partial")
        await asyncio.sleep(0.05)
        raise RuntimeError("upstream broke")

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()


async def test_an_exception_before_start_is_a_500():
    async def produce(request, response):
        raise RuntimeError("no upstream")

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert response.status == 500


async def test_keep_alive_reuses_the_connection_after_a_streamed_response():
    async def produce(request, response):
        response.start(200)
        for piece in (b"one ", b"two ", request.path.encode()):
            response.write(piece)
            await asyncio.sleep(0)
        # returning without end() ends the response

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            for path in ("/a", "/b", "/c"):
                async with session.get(f"http://127.0.0.1:{server.port}{path}") as response:
                    assert await response.read() == b"one two " + path.encode()
            assert len(session.connector._conns) == 1  # one pooled connection was reused


async def test_an_app_content_length_is_used_instead_of_chunking():
    async def produce(request, response):
        response.start(200, [("Content-Length", "10")])
        response.write(b"01234")
        await asyncio.sleep(0)
        response.end(b"56789")

    async with await serve(streaming_app(produce)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{server.port}/") as response:
                assert response.headers["Content-Length"] == "10"
                assert "Transfer-Encoding" not in response.headers
                assert await response.read() == b"0123456789"


async def test_a_head_request_gets_the_head_only():
    async def produce(request, response):
        response.start(200, content_length=5)
        response.end(b"hello")

    async with await serve(streaming_app(produce)) as server:
        client = await RawClient.open(server.port)
        status, head = await client.request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status == 200 and b"content-length: 5" in head.lower()
        client.writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection carries on
        status, _ = await client.request(b"")
        assert status == 200 and await client.reader.readexactly(5) == b"hello"
        client.close()


# -- streamed request bodies --------------------------------------------------------------------


class StreamingBodies(TestApp):
    streams_request_bodies = True


async def test_a_request_body_streams_in_as_it_arrives():
    got_first = asyncio.Event()

    async def count(request):
        sizes = []
        async for piece in request.stream():
            sizes.append(piece)
            got_first.set()
        return HttpResponse(200, b"|".join(sizes))

    async def upload():
        yield b"first"
        await asyncio.wait_for(got_first.wait(), 5)  # the app saw it before the body ended
        yield b"second"

    async with await serve(StreamingBodies(http=count)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/", data=upload()) as response:
                assert await response.read() == b"first|second"


async def test_a_streamed_body_can_be_read_whole():
    async def echo(request):
        return HttpResponse(200, (await request.read())[::-1])

    async with await serve(StreamingBodies(http=echo)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/", data=b"abc" * 100000) as response:
                assert await response.read() == (b"abc" * 100000)[::-1]


async def test_a_streamed_chunked_body_past_the_limit_is_413():
    async def consume(request):
        async for _ in request.stream():
            pass
        return HttpResponse(200, b"accepted")

    settings = ServerSettings(max_body_size=1000)
    async with await serve(StreamingBodies(http=consume), settings=settings) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(3):
            client.writer.write(b"200\r\n" + b"x" * 512 + b"\r\n")
        status, head = await asyncio.wait_for(client.request(b""), 5)
        assert status == 413 and b"connection: close" in head.lower()
        client.close()


async def test_a_streamed_content_length_past_the_limit_is_413_before_the_app_runs():
    called = []

    async def consume(request):
        called.append(request)
        return HttpResponse(200)

    settings = ServerSettings(max_body_size=1000)
    async with await serve(StreamingBodies(http=consume), settings=settings) as server:
        client = await RawClient.open(server.port)
        status, _ = await client.request(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n")
        assert status == 413 and called == []
        client.close()


async def test_expect_100_continue_is_answered_when_the_app_asks_for_the_body():
    async def echo(request):
        if request.path == "/reject":
            return HttpResponse(403, b"no")
        return HttpResponse(200, await request.read())

    async with await serve(StreamingBodies(http=echo)) as server:
        client = await RawClient.open(server.port)
        status, _ = await client.request(b"POST /accept HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert status == 100
        status, _ = await client.request(b"body")
        assert status == 200 and await client.reader.readexactly(4) == b"body"
        client.close()
        client = await RawClient.open(server.port)
        status, head = await client.request(b"POST /reject HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        assert status == 403  # no 100: the body was never wanted
        assert b"connection: close" in head.lower()  # and it was not read, so nothing can follow
        client.close()


async def test_a_request_that_does_not_stream_bodies_still_sees_body_whole():
    async def echo(request):
        return HttpResponse(200, request.body + b"/" + await request.read())

    async with await serve(TestApp(http=echo)) as server:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{server.port}/", data=b"abc") as response:
                assert await response.read() == b"abc/abc"


async def test_keep_alive_reuses_the_connection_after_a_streamed_upload_the_app_read():
    async def http(request):
        async def produce(response):
            size = 0
            async for piece in request.stream():
                size += len(piece)
            response.start(200)
            response.end(b"%d" % size)

        return StreamedResponse(produce)

    async with await serve(StreamingBodies(http=http)) as server:
        async with aiohttp.ClientSession() as session:
            for size in (10, 300000, 5):
                async with session.post(f"http://127.0.0.1:{server.port}/", data=b"u" * size) as response:
                    assert await response.read() == b"%d" % size
            assert len(session.connector._conns) == 1  # one pooled connection was reused
