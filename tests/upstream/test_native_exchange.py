"""The upstream client's usual exchange runs natively (`_codec.UpstreamExchange`): an idle
connection taken and written, a whole answer taken and the connection parked, with no Python
method of the connection or pool on the way; every other case is left to those methods, which
remain the specification (tests/upstream/test_client*.py run through both)."""

from __future__ import annotations

import asyncio
import gc
import gzip
import weakref

import pytest

from aigw import _codec
from aigw.upstream import UpstreamClient, UpstreamProtocolError
from aigw.upstream import client as client_module
from aigw.upstream.client import _Pool
from aigw.upstream.connection import Connection
from aigw.upstream.response import UpstreamResponse

from raw_http import read_request

HELLO = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
_PACKED = gzip.compress(b"hello")
GZIPPED_CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"%x\r\n" % len(_PACKED) + _PACKED + b"\r\n0\r\n\r\n"
)


def serving(*replies: bytes):
    """A raw handler answering each request with the next of `replies` (the last one repeats)."""

    async def handler(reader, writer):
        n = 0
        while True:
            await read_request(reader)
            writer.write(replies[min(n, len(replies) - 1)])
            n += 1
            await writer.drain()

    return handler


def gated():
    """A raw handler that answers each request with HELLO once `gate` is set; (handler, gate)."""
    gate = asyncio.Event()

    async def held(reader, writer):
        while True:
            await read_request(reader)
            await gate.wait()
            writer.write(HELLO)
            await writer.drain()

    return held, gate


@pytest.fixture
def python_calls(monkeypatch):
    """Counts of the Python methods the native exchange stands in for."""
    calls = {"_received": 0, "send": 0, "release": 0, "take_idle": 0}
    for cls, name in ((Connection, "_received"), (Connection, "send"), (_Pool, "release"), (_Pool, "take_idle")):
        method = getattr(cls, name)

        def counted(*args, _method=method, _name=name, **kwargs):
            calls[_name] += 1
            return _method(*args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
    return calls


async def test_keep_alive_requests_after_the_first_run_without_the_python_methods(raw_server, python_calls):
    async with raw_server(serving(HELLO)) as (base, _), UpstreamClient() as client:
        await (await client.request("GET", base + "/")).read()  # connects: the Python path
        first = dict(python_calls)
        for _ in range(5):
            assert await (await client.request("GET", base + "/", owner="a")).read() == b"hello"
        assert python_calls == first
        assert list(client.stats().values()) == [(1, 1, 0)]
        assert client.owner_connections("a") == 0


async def test_a_request_in_flight_holds_its_owners_share_until_its_answer(raw_server, python_calls):
    held, gate = gated()

    async with raw_server(held) as (base, _), UpstreamClient(max_connections_per_owner=1) as client:
        gate.set()
        await (await client.request("GET", base + "/")).read()
        gate.clear()
        taken = python_calls["take_idle"]
        pending = asyncio.ensure_future(client.request("GET", base + "/", owner="a"))
        await asyncio.sleep(0.05)
        assert python_calls["take_idle"] == taken  # taken natively ...
        assert client.owner_connections("a") == 1  # ... and counted as Python counts it
        gate.set()
        assert await (await pending).read() == b"hello"
        assert client.owner_connections("a") == 0


async def test_an_owner_at_its_share_waits_its_turn_through_the_python_path(raw_server, python_calls):
    held, gate = gated()

    async with raw_server(held) as (base, _), UpstreamClient(max_connections_per_owner=1) as client:
        two = [asyncio.ensure_future(client.request("GET", base + "/")) for _ in range(2)]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(*[(await f).read() for f in two])  # two connections, both idle now
        gate.clear()
        first = asyncio.ensure_future(client.request("GET", base + "/", owner="a"))
        await asyncio.sleep(0.05)
        assert list(client.stats().values()) == [(2, 1, 0)]  # one idle connection left ...
        taken = python_calls["take_idle"]
        second = asyncio.ensure_future(client.request("GET", base + "/", owner="a"))  # ... that "a" may not take
        await asyncio.sleep(0.05)
        # Declined natively, then queued by Python: the idle connection stays idle.
        assert list(client.stats().values()) == [(2, 1, 1)] and client.owner_connections("a") == 1
        assert python_calls["take_idle"] == taken
        gate.set()
        assert [await (await f).read() for f in (first, second)] == [b"hello", b"hello"]


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(GZIPPED_CHUNKED, id="compressed chunked"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=30\r\n\r\nhello", id="keep-alive field"),
        pytest.param(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", id="interim answer"),
    ],
)
async def test_an_answer_the_native_path_does_not_take_is_finished_by_python(reply, raw_server, python_calls):
    async with raw_server(serving(reply)) as (base, _), UpstreamClient() as client:
        for _ in range(2):
            assert await (await client.request("GET", base + "/")).read() == b"hello"
        assert python_calls["_received"] >= 2
        assert list(client.stats().values()) == [(1, 1, 0)]


async def test_a_streamed_head_and_the_reads_after_it_run_no_python_method(raw_server, monkeypatch):
    async def paced(reader, writer):
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (b"5\r\nhello\r\n", b"6\r\n world\r\n", b"0\r\n\r\n"):
                await writer.drain()
                await asyncio.sleep(0.02)
                writer.write(piece)
            await writer.drain()

    fed, received = [], []
    feed_body, real_received = Connection._feed_body, Connection._received
    monkeypatch.setattr(Connection, "_feed_body", lambda conn, data: (fed.append(bytes(data)), feed_body(conn, data))[1])
    monkeypatch.setattr(Connection, "_received", lambda conn, *args: (received.append(args), real_received(conn, *args))[1])
    async with raw_server(paced) as (base, accepted), UpstreamClient() as client:
        assert await (await client.request("GET", base + "/")).read() == b"hello world"
        assert await (await client.request("GET", base + "/")).read() == b"hello world"
        assert len(accepted) == 1  # the body's native end parked the connection
    assert received == [] and fed == []  # the head started its body natively, and every read was fed so


async def test_a_chunked_answer_whole_in_its_first_read_runs_no_python_method(raw_server, monkeypatch):
    reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    calls = []
    for name in ("_received", "_feed_body", "_body_done", "_finished"):
        method = getattr(Connection, name)
        monkeypatch.setattr(Connection, name, lambda *args, _m=method, _n=name: (calls.append(_n), _m(*args))[1])
    async with raw_server(serving(reply)) as (base, accepted), UpstreamClient() as client:
        for _ in range(3):
            assert await (await client.request("GET", base + "/")).read() == b"hello"
        assert len(accepted) == 1 and list(client.stats().values()) == [(1, 1, 0)]
    assert calls == []


async def test_a_keep_alive_field_still_bounds_the_idle_time(raw_server):
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=30\r\n\r\nhello"
    async with raw_server(serving(reply)) as (base, _), UpstreamClient(idle_timeout=600) as client:
        await (await client.request("GET", base + "/")).read()
        (pool,) = client._pools.values()
        assert pool.idle[0].keep_alive_limit == 30.0


async def test_a_head_split_across_reads_is_put_together(raw_server):
    async def split(reader, writer):
        while True:
            await read_request(reader)
            for part in (HELLO[:10], HELLO[10:]):
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)

    async with raw_server(split) as (base, _), UpstreamClient() as client:
        for _ in range(2):
            assert await (await client.request("GET", base + "/")).read() == b"hello"


async def test_a_malformed_head_fails_the_request_and_drops_the_connection(raw_server):
    async with raw_server(serving(HELLO, b"HTTP/1.1 abc Nope\r\n\r\n")) as (base, accepted), UpstreamClient() as client:
        await (await client.request("GET", base + "/")).read()
        with pytest.raises(UpstreamProtocolError):
            await client.request("GET", base + "/")
        assert list(client.stats().values()) == [(0, 0, 0)]


async def test_a_connection_close_answer_closes_instead_of_parking(raw_server):
    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello"
    async with raw_server(serving(HELLO, reply, HELLO)) as (base, accepted), UpstreamClient() as client:
        for _ in range(3):
            assert await (await client.request("GET", base + "/")).read() == b"hello"
        assert len(accepted) == 2


async def test_an_idle_connection_past_its_deadline_is_not_taken(raw_server):
    async with raw_server(serving(HELLO)) as (base, accepted), UpstreamClient(idle_timeout=0.05) as client:
        await (await client.request("GET", base + "/")).read()
        await asyncio.sleep(0.1)
        await (await client.request("GET", base + "/")).read()
        assert len(accepted) == 2


async def test_a_closed_client_closes_a_connection_that_comes_back(raw_server):
    held, gate = gated()

    async with raw_server(held) as (base, _):
        client = UpstreamClient()
        gate.set()
        await (await client.request("GET", base + "/")).read()
        gate.clear()
        pending = asyncio.ensure_future(client.request("GET", base + "/"))
        await asyncio.sleep(0.05)
        await client.close()
        gate.set()
        assert await (await pending).read() == b"hello"
        await asyncio.sleep(0)
        assert list(client.stats().values()) == [(0, 0, 0)]


async def test_a_connection_is_freed_by_reference_counting_alone(raw_server):
    async with raw_server(serving(HELLO)) as (base, _):
        client = UpstreamClient()
        await (await client.request("GET", base + "/")).read()
        (pool,) = client._pools.values()
        ref = weakref.ref(pool.idle[0])
        await client.close()
        await asyncio.sleep(0.01)
        gc.disable()
        try:
            del pool
            client._pools.clear()
            assert ref() is None  # its data_received holds it weakly: no cycle to wait for
        finally:
            gc.enable()


def test_the_exchange_refuses_classes_without_the_slots_it_uses():
    class NotAPool:
        __slots__ = ("client",)

    with pytest.raises(ValueError, match="idle"):
        _codec.UpstreamExchange(UpstreamClient, NotAPool, Connection, UpstreamResponse, object, object, object, print, print)


def test_send_declines_a_pool_that_is_not_the_clients_own():
    send = client_module._send
    assert send(object(), None, b"", False, 1.0, 2.0, True) is None
