"""Keepalive pings, idle close, and in-flight work keeping a connection alive."""

import asyncio

import websockets
from server_helpers import RawClient, Recorder, TestApp

from aigw.server import ServerSettings, serve
from aigw.server.app import WebSocketHandler


async def test_a_client_that_never_pongs_is_closed_with_1011():
    settings = ServerSettings(ping_interval=0.1, ping_timeout=0.1, close_timeout=0.5)
    app = TestApp()
    async with await serve(app, settings=settings) as server:
        client = await RawClient.upgrade(server.port)
        assert (await client.next_event())[0] == 9  # the keepalive ping, left unanswered
        assert (await client.next_event())[:2] == (8, 1011)
        assert await app.handlers[0].closed == (1011, "keepalive ping timeout")
        client.close()


async def test_a_client_that_pongs_stays_open():
    settings = ServerSettings(ping_interval=0.05, ping_timeout=0.05)
    app = TestApp()
    async with await serve(app, settings=settings) as server:
        client = await RawClient.upgrade(server.port)
        for _ in range(3):
            kind, payload = await client.next_event()
            assert kind == 9
            client.send("send_pong", payload)
        client.send("send_text", "still here")
        assert await client.next_event() == (1, b"still here")
        client.close()


async def test_an_idle_connection_is_closed_with_1000():
    settings = ServerSettings(idle_timeout=0.2, ping_interval=None)
    async with await serve(TestApp(), settings=settings) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None) as ws:
            await ws.wait_closed()
            assert ws.close_code == 1000
            assert ws.close_reason == "idle timeout"


class Worker(Recorder):
    """On "start" tells the connection work began; on "finish" that it ended."""

    def on_message(self, ws, opcode, payload):
        if payload == b"start":
            ws.work_started()
        elif payload == b"finish":
            ws.work_finished()
        ws.send(opcode, payload)


async def test_in_flight_work_keeps_an_idle_connection_open():
    settings = ServerSettings(idle_timeout=0.1, ping_interval=None)
    app = TestApp(make_handler=Worker)
    async with await serve(app, settings=settings) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", ping_interval=None) as ws:
            await ws.send("start")
            await ws.recv()
            await asyncio.sleep(0.5)  # five idle periods with work in flight
            assert app.handlers[0].ws.in_flight == 1
            await ws.send("finish")
            assert await ws.recv() == "finish"
            await ws.wait_closed()
            assert ws.close_code == 1000


class Closer(WebSocketHandler):
    def on_message(self, ws, opcode, payload):
        ws.close(4000, "app says bye")


async def test_the_app_can_close_with_its_own_code():
    async with await serve(TestApp(make_handler=Closer)) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.send("x")
            await ws.wait_closed()
            assert (ws.close_code, ws.close_reason) == (4000, "app says bye")


async def test_a_peer_close_is_echoed_and_reported():
    app = TestApp()
    async with await serve(app) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await ws.close(4321, "done")
        assert ws.close_code == 4321
        assert await app.handlers[0].closed == (4321, "done")


async def test_a_dropped_tcp_connection_is_reported_as_1006():
    app = TestApp()
    async with await serve(app) as server:
        client = await RawClient.upgrade(server.port)
        await app.handlers[0].opened.wait()
        client.writer.transport.abort()
        assert (await app.handlers[0].closed)[0] == 1006
