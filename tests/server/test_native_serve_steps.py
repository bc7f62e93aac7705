"""`HttpConnection._serve`'s usual steps around a request are native (`_codec.HttpServe`,
rust/src/python/http_serve.rs): the response writer of a request with no Upgrade field, and,
after a completed response with nothing more buffered, the idle connection's timer and the
future for its next request. Everything else stays `_serve`'s Python; the connection behaves
the same either way (over real sockets, on asyncio and uvloop)."""

from __future__ import annotations

import asyncio

import pytest

from aigw import _codec
from aigw.protocol.http11 import READER_PARTS, Headers, Request, RequestReader
from aigw.server import HttpResponse, ServerSettings, serve
from aigw.server.http import HttpConnection
from aigw.server.http_response import ENDED, ResponseWriter, _writer_slots


class Echo:
    async def http(self, request):
        return HttpResponse(200, b"%s %s" % (request.method.encode(), request.path.encode()))

    async def websocket(self, request):
        return HttpResponse(404, b"")


@pytest.fixture
def armed_in_python(monkeypatch):
    """How many times `_serve` armed the idle timer in Python (`_arm_idle_timer`)."""
    calls = []
    python_arm = HttpConnection._arm_idle_timer

    def counted(self):
        calls.append(1)
        return python_arm(self)

    monkeypatch.setattr(HttpConnection, "_arm_idle_timer", counted)
    return calls


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


def get(path: str, *extra: str, method: str = "GET") -> bytes:
    return ("%s %s HTTP/1.1\r\nhost: x\r\n%s\r\n" % (method, path, "".join(e + "\r\n" for e in extra))).encode()


async def test_keep_alive_requests_step_to_the_next_one_natively(armed_in_python):
    async with await serve(Echo()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for i in range(3):
            writer.write(get(f"/r{i}"))
            assert (await read_response(reader))[1] == b"GET /r%d" % i
        writer.close()
    assert len(armed_in_python) == 1  # at connection_made only


async def test_a_connection_idle_after_a_native_step_still_closes_after_the_keep_alive_timeout():
    async with await serve(Echo(), settings=ServerSettings(http_keepalive_timeout=0.2)) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(get("/one"))
        await read_response(reader)
        writer.write(get("/two"))
        await read_response(reader)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server when idle
        writer.close()


async def test_pipelined_requests_take_the_python_step(armed_in_python):
    async with await serve(Echo()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(get("/a") + get("/b") + get("/c"))
        bodies = [(await read_response(reader))[1] for _ in range(3)]
        writer.close()
    assert bodies == [b"GET /a", b"GET /b", b"GET /c"]
    assert len(armed_in_python) >= 2  # the connection's first arm, then Python's steps


async def test_a_response_that_closes_the_connection_ends_it():
    async with await serve(Echo()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(get("/bye", "connection: close"))
        head, body = await read_response(reader)
        assert b"connection: close" in head.lower() and body == b"GET /bye"
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_request_with_an_upgrade_field_that_is_no_websocket_is_answered():
    async with await serve(Echo()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(get("/h2", "upgrade: h2c", "connection: upgrade"))
        head, body = await read_response(reader)
        writer.close()
    assert head.startswith(b"HTTP/1.1 200 ") and body == b"GET /h2"


async def test_a_head_request_gets_its_head_only():
    async with await serve(Echo()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(get("/h", method="HEAD") + get("/after"))
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 7" in head.lower()
        assert (await read_response(reader))[1] == b"GET /after"  # no body came between
        writer.close()


def test_the_steps_refuse_classes_without_the_slots_they_use():
    classes = (HttpConnection, Request, Headers, ResponseWriter, RequestReader, ServerSettings)
    _codec.HttpServe(classes, ENDED, READER_PARTS[0], _writer_slots)
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.HttpServe((Request,) + classes[1:], ENDED, READER_PARTS[0], _writer_slots)
