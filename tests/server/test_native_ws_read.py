"""A server WebSocket's read is native (`_codec.WsReceive`, rust/src/python/ws_receive.rs):
its `buffer_updated` is a builtin that parses the read, hands each data message to the
handler's `on_message` and each other event to the protocol, and writes what the batch
queued, as `WebSocket._received`, `_dispatch`, the protocol's `deliver` and `_flush` do (a
relay's connection reads through `_received` itself). The conformance and echo tests run
through it; these pin the cases it hands back to Python."""

import asyncio
import gc
import logging
import weakref

import pytest
from server_helpers import RawClient, Recorder, TestApp

from aigw import _codec
from aigw.server import serve
from aigw.server import websocket as server_websocket

TEXT, BINARY, CLOSE = 1, 2, 8


class Raising(Recorder):
    """Echoes, but fails on the message b"boom"."""

    def on_message(self, ws, opcode: int, payload: bytes) -> None:
        if payload == b"boom":
            raise RuntimeError("boom")
        super().on_message(ws, opcode, payload)


@pytest.fixture
async def app():
    return TestApp()


async def opened(app, server) -> RawClient:
    client = await RawClient.upgrade(server.port)
    await asyncio.wait_for(app.handlers[0].opened.wait(), 5)
    return client


async def test_a_server_websocket_reads_through_a_native_buffer_updated(app):
    async with await serve(app) as server:
        client = await opened(app, server)
        client.send("send_text", "hi")
        echoed = await asyncio.wait_for(client.next_event(), 5)
        ws = app.handlers[0].ws
        client.close()
    assert echoed == (TEXT, b"hi")
    assert type(ws.buffer_updated).__name__ == "builtin_function_or_method"
    assert type(ws._write_out).__name__ == "builtin_function_or_method"
    assert ws.protocol.data_seen is True


async def test_messages_of_one_read_are_echoed_in_one_write_in_order(app):
    async with await serve(app) as server:
        client = await opened(app, server)
        for i in range(5):
            client.codec.send_binary(b"m%d" % i)
        client.writer.write(client.codec.data_to_send())  # one write: one read, likely
        got = [await asyncio.wait_for(client.next_event(), 5) for _ in range(5)]
        client.close()
    assert got == [(BINARY, b"m%d" % i) for i in range(5)]


async def test_an_on_message_that_raises_closes_the_connection_with_1011_and_is_logged(caplog):
    app = TestApp(make_handler=Raising)
    caplog.set_level(logging.ERROR, logger="aigw.server")
    async with await serve(app) as server:
        client = await opened(app, server)
        client.codec.send_text("boom")
        client.codec.send_text("after")  # in the same batch: dropped with it
        client.writer.write(client.codec.data_to_send())
        event = await asyncio.wait_for(client.next_event(), 5)
        client.close()
    assert event[:2] == (CLOSE, 1011)
    assert any(r.getMessage() == "on_message failed" and r.exc_info[1].args == ("boom",) for r in caplog.records)


async def test_a_batch_stops_at_the_close_frame_that_ends_it(app):
    async with await serve(app) as server:
        client = await opened(app, server)
        client.codec.send_text("before")
        client.codec.send_close(1000, "bye")
        client.writer.write(client.codec.data_to_send())
        events = [await asyncio.wait_for(client.next_event(), 5) for _ in range(2)]
        closed = await asyncio.wait_for(app.handlers[0].closed, 5)
        client.close()
    assert events[0] == (TEXT, b"before") and events[1][:2] == (CLOSE, 1000)
    assert closed == (1000, "bye")


async def test_a_send_outside_a_read_is_written_by_the_native_scheduled_write(app):
    async with await serve(app) as server:
        client = await opened(app, server)
        ws = app.handlers[0].ws
        ws.send_text("pushed")  # not in a read: `_write_out` is scheduled for the tick
        assert ws._flush_scheduled is True
        pushed = await asyncio.wait_for(client.next_event(), 5)
        client.close()
    assert pushed == (TEXT, b"pushed") and ws._flush_scheduled is False


def test_only_the_servers_own_websocket_class_gets_a_native_read():
    class Own(server_websocket.WebSocket):
        __slots__ = ()

    assert server_websocket._RECEIVE.receivers(object.__new__(Own)) is None


async def test_the_native_read_holds_its_connection_weakly(app):
    async with await serve(app) as server:
        client = await opened(app, server)
        ws = app.handlers[0].ws
        buffer_updated = ws.buffer_updated
        client.close()
        await asyncio.wait_for(app.handlers[0].closed, 5)
    app.handlers.clear()
    gone = weakref.ref(ws)
    del ws
    gc.collect()
    assert gone() is None
    assert buffer_updated(5) is None  # a read for a connection that is gone does nothing


def test_the_read_maker_checks_the_classes_slots():
    with pytest.raises(ValueError):
        _codec.WsReceive((server_websocket.WebSocket, object), server_websocket.OPEN, server_websocket.CLOSED)
