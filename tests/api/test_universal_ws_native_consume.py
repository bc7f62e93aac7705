"""A stream relayed to the server's own WebSocket is consumed natively, one call a read
(`_codec.WsStreamConsumers`, rust/src/python/ws_stream.rs), as `WebSocketSink.relay`'s
`consume` closure consumes it: the same messages to the client, the same refusal once the
client has gone, the same answer when the client is behind. The closure serves every other
connection."""

from __future__ import annotations

import asyncio
import gc

import pytest
from universal_ws_helpers import answer, comparable, connect, create, step

from aigw import _codec
from aigw.api import universal_ws
from aigw.protocol.websocket import OPEN, WebSocketConnection
from aigw.server.app import ConnectionClosed
from aigw.server.websocket import WebSocket


async def test_a_stream_reaches_the_client_alike_through_the_native_consume_and_the_closure(gateway, monkeypatch):
    made = []
    real_make = universal_ws._STREAM_CONSUMERS.make

    class Counting:
        def make(self, relay, ws):
            consume = real_make(relay, ws)
            made.append(consume is not None)
            return consume

    monkeypatch.setattr(universal_ws, "_STREAM_CONSUMERS", Counting())
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", stream=True, event_id="native")))
        native = comparable(await answer(ws))
        monkeypatch.setattr(universal_ws, "_STREAM_CONSUMERS", type("Declining", (), {"make": lambda self, relay, ws: None})())
        await ws.send(create(step("openai", stream=True, event_id="native")))
        python = comparable(await answer(ws))
    assert made == [True]
    assert native == python
    assert [m["type"] for m in native][0] == "universal.created" and native[-1]["type"] == "universal.done"
    assert sum(m["type"] == "universal.stream" for m in native) >= 2


class FakeWebSocket:
    """A stand-in connection (not the server's WebSocket)."""

    codec = _codec.WsCodec()


def test_make_declines_a_connection_that_is_not_the_servers_websocket():
    consumers = _codec.WsStreamConsumers((WebSocket, WebSocketConnection), OPEN, ConnectionClosed)
    assert consumers.make(_codec.StreamRelay("e1"), FakeWebSocket()) is None


def test_the_consumers_refuse_classes_without_the_slots_they_use():
    with pytest.raises(ValueError):
        _codec.WsStreamConsumers((FakeWebSocket, WebSocketConnection), OPEN, ConnectionClosed)


async def test_the_native_consume_answers_as_the_closure_when_the_client_is_behind_or_gone(gateway, sims, monkeypatch):
    sims["openai"].chunks, sims["openai"].chunk_delay = 200, 0.005  # a stream still running when the test looks
    connections = []
    real_make = universal_ws._STREAM_CONSUMERS.make
    monkeypatch.setattr(universal_ws, "_STREAM_CONSUMERS", type("Catching", (), {"make": lambda self, relay, ws: (connections.append(ws), real_make(relay, ws))[1]})())
    consumers = _codec.WsStreamConsumers((WebSocket, WebSocketConnection), OPEN, ConnectionClosed)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", stream=True, event_id="s")))
        while not connections:
            await asyncio.sleep(0.005)
        server_ws = connections[0]
        consume = consumers.make(_codec.StreamRelay("probe"), server_ws)  # a second stream on the same connection
        assert server_ws in gc.get_referents(consume.__self__)  # the cycle collector sees what it holds
        assert consume(b'data: {"a":1}\n\n') is True
        server_ws.write_paused = True
        try:
            assert consume(b'data: {"a":2}\n\n') is False  # behind: stop reading upstream
        finally:
            server_ws.write_paused = False
        await ws.close()
        while not server_ws.closed:
            await asyncio.sleep(0.005)
        with pytest.raises(ConnectionClosed):
            consume(b'data: {"a":3}\n\n')
