"""A client connection's `get_buffer` and `buffer_updated` are native
(`_codec.HttpReceive`, rust/src/python/http_receive.rs): the usual request, all here while the
connection is between requests, is taken and handed to the connection's task without Python;
everything else goes to `HttpConnection._process`, which reads what is buffered as before.

Each test counts `_process` calls over real sockets (on asyncio and uvloop) and checks what
the app saw and what the client got."""

from __future__ import annotations

import asyncio
import gc
import types
import weakref

import pytest

from aigw import _codec
from aigw.protocol.http11 import READER_PARTS, RequestReader
from aigw.server import HttpResponse, ServerSettings, serve
from aigw.server.http import HttpConnection


class BodyEcho:
    """An app answering each request with its method, path and body; records the requests."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bytes]] = []

    async def http(self, request):
        self.seen.append((request.method, request.path, request.body))
        return HttpResponse(200, b"%s %s %s" % (request.method.encode(), request.path.encode(), request.body))

    async def websocket(self, request):
        return HttpResponse(404, b"")


@pytest.fixture
def processed(monkeypatch):
    """How many times `HttpConnection._process` ran."""
    calls = []
    python_process = HttpConnection._process

    def counted(self):
        calls.append(1)
        return python_process(self)

    monkeypatch.setattr(HttpConnection, "_process", counted)
    return calls


async def read_response(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    return await reader.readexactly(length)


def post(path: str, body: bytes) -> bytes:
    return b"POST %s HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (path.encode(), len(body), body)


async def test_requests_that_arrive_whole_are_taken_without_python(processed):
    app = BodyEcho()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        for i in range(3):
            writer.write(post(f"/r{i}", b"body%d" % i))
            assert await read_response(reader) == b"POST /r%d body%d" % (i, i)
        writer.close()
    assert app.seen == [("POST", f"/r{i}", b"body%d" % i) for i in range(3)]
    assert processed == []


async def test_a_percent_encoded_path_and_a_query_are_read_as_python_reads_them(processed):
    app = BodyEcho()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /a%20b?x=1 HTTP/1.1\r\nhost: x\r\n\r\n")
        assert await read_response(reader) == b"GET /a b "
        writer.close()
    assert processed == []


async def test_a_head_that_arrives_in_pieces_is_taken_when_it_is_whole(processed):
    app = BodyEcho()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = post("/slow", b"xyz")
        for piece in (request[:5], request[5:20], request[20:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.02)
        assert await read_response(reader) == b"POST /slow xyz"
        writer.close()
    assert processed == []  # each piece short of a head is remembered natively (and timed)


async def test_a_head_that_never_completes_still_gets_408(processed):
    settings = ServerSettings(request_read_timeout=0.2)
    async with await serve(BodyEcho(), settings=settings) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nhost:")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.close()
    assert head.startswith(b"HTTP/1.1 408 ")


async def test_a_body_that_arrives_after_its_head_goes_to_python(processed):
    app = BodyEcho()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        request = post("/later", b"the body")
        writer.write(request[:-8])
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(request[-8:])
        assert await read_response(reader) == b"POST /later the body"
        writer.close()
    assert len(processed) >= 1


async def test_a_malformed_head_goes_to_python_and_gets_its_status(processed):
    async with await serve(BodyEcho()) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nbad header\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
    assert head.startswith(b"HTTP/1.1 400 ") and b"connection: close" in head.lower()
    assert len(processed) == 1


async def test_pipelined_requests_are_answered_in_order(processed):
    app = BodyEcho()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/one", b"1") + post("/two", b"2") + post("/three", b"3"))
        answers = [await read_response(reader) for _ in range(3)]
        writer.close()
    assert answers == [b"POST /one 1", b"POST /two 2", b"POST /three 3"]
    assert [path for _, path, _ in app.seen] == ["/one", "/two", "/three"]


async def test_bytes_that_arrive_while_a_request_is_answered_wait_for_it(processed):
    release = asyncio.Event()

    class Slow(BodyEcho):
        async def http(self, request):
            if request.path == "/first":
                await release.wait()
            return await super().http(request)

    app = Slow()
    async with await serve(app) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(post("/first", b"a"))
        await asyncio.sleep(0.05)
        writer.write(post("/second", b"b"))  # the connection is busy: Python keeps it buffered
        await asyncio.sleep(0.05)
        release.set()
        assert [await read_response(reader) for _ in range(2)] == [b"POST /first a", b"POST /second b"]
        writer.close()
    assert len(processed) >= 1


def fake_server() -> types.SimpleNamespace:
    settings = ServerSettings()
    return types.SimpleNamespace(
        app=BodyEcho(), loop=None, settings=settings, scratch=memoryview(bytearray(64)), connections=set(), shutting_down=False
    )


def test_the_readers_hold_their_connection_weakly():
    conn = HttpConnection(fake_server())
    ref = weakref.ref(conn)
    get_buffer, buffer_updated = conn.get_buffer, conn.buffer_updated
    del conn
    gc.collect()
    assert ref() is None
    assert buffer_updated(5) is None  # a read for a connection that is gone does nothing
    assert len(get_buffer(-1)) == 64


def test_readers_are_made_only_for_the_connection_class():
    receive = _codec.HttpReceive((HttpConnection, RequestReader), *READER_PARTS)

    class Other:
        __slots__ = ("__weakref__",)

    with pytest.raises(TypeError):
        receive.receivers(Other(), memoryview(bytearray(8)))
    with pytest.raises(ValueError, match="is not a slot"):
        _codec.HttpReceive((RequestReader, RequestReader), *READER_PARTS)
