"""Request deadlines over real sockets: a request's head and body must arrive within
``request_read_timeout`` of its first byte, however slowly they trickle in (408, then close)."""

import asyncio
import time

from server_helpers import RawClient, TestApp

from aigw.server import HttpResponse, ServerSettings, serve


async def trickle(client: RawClient, data: bytes, every: float) -> None:
    """Send `data` one byte at a time, `every` seconds apart, until the server closes."""
    for byte in data:
        if client.writer.is_closing() or client.reader.at_eof():
            return
        client.writer.write(bytes([byte]))
        await asyncio.sleep(every)


async def test_a_body_trickling_in_is_answered_408_at_the_request_deadline():
    settings = ServerSettings(request_read_timeout=0.8, http_keepalive_timeout=0.5)
    async with await serve(TestApp(), settings=settings) as server:
        client = await RawClient.open(server.port)
        started = time.monotonic()
        client.writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        # One byte every 0.2 s: each read is well inside the keep-alive timeout.
        sender = asyncio.create_task(trickle(client, b"x" * 1000, 0.2))
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        elapsed = time.monotonic() - started
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"connection: close" in head.lower()
        assert 0.7 <= elapsed < 2.0
        await asyncio.wait_for(client.reader.read(), 2)  # then the server closes
        assert client.reader.at_eof()
        sender.cancel()
        client.close()


async def test_a_streamed_body_trickling_in_is_answered_408_and_the_handler_is_cancelled():
    cancelled = asyncio.Event()

    class Streaming(TestApp):
        streams_request_bodies = True

    async def consume(request):
        try:
            async for _ in request.stream():
                pass
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return HttpResponse(200, b"done")

    settings = ServerSettings(request_read_timeout=0.8)
    async with await serve(Streaming(http=consume), settings=settings) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
        sender = asyncio.create_task(trickle(client, b"x" * 1000, 0.2))
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408 ")
        await asyncio.wait_for(cancelled.wait(), 2)
        sender.cancel()
        client.close()


async def test_a_head_trickling_in_is_answered_408():
    settings = ServerSettings(http_keepalive_timeout=0.5)
    async with await serve(TestApp(), settings=settings) as server:
        client = await RawClient.open(server.port)
        sender = asyncio.create_task(trickle(client, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"y" * 100, 0.1))
        head = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 408 ")
        sender.cancel()
        client.close()


async def test_an_idle_keep_alive_connection_closes_without_an_answer():
    settings = ServerSettings(http_keepalive_timeout=0.3)
    async with await serve(TestApp(), settings=settings) as server:
        client = await RawClient.open(server.port)
        assert await asyncio.wait_for(client.reader.read(), 2) == b""
        client.close()


async def test_a_body_arriving_in_time_is_not_cut_off_by_the_deadline():
    async def echo(request):
        return HttpResponse(200, request.body)

    settings = ServerSettings(request_read_timeout=2.0, http_keepalive_timeout=0.3)
    async with await serve(TestApp(http=echo), settings=settings) as server:
        client = await RawClient.open(server.port)
        client.writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
        await trickle(client, b"abcdef", 0.2)  # 1.2 s: past the keep-alive timeout, inside the deadline
        status, _ = await asyncio.wait_for(client.request(b""), 2)
        assert status == 200
        assert await client.reader.readexactly(6) == b"abcdef"
        client.close()


def test_the_request_read_timeout_is_set_in_the_server_table(tmp_path):
    from aigw.config import load_settings
    from aigw.gateway import server_settings_from

    path = tmp_path / "aigw.toml"
    path.write_text("[server]\nrequest_read_timeout = 7.5\n")
    assert server_settings_from(load_settings(path)).request_read_timeout == 7.5
