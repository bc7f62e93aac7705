"""Graceful shutdown: stop accepting, let in-flight work finish, close WebSockets with 1001."""

import asyncio

import aiohttp
import pytest
import websockets
from server_helpers import Recorder, TestApp

from aigw.server import HttpResponse, serve


class SlowWorker(Recorder):
    """A "work" message starts a unit of work that answers "done" after `delay` seconds."""

    delay = 0.3

    def on_message(self, ws, opcode, payload):
        if payload == b"work":
            ws.work_started()

            def finish():
                ws.send_text("done")
                ws.work_finished()

            asyncio.get_running_loop().call_later(self.delay, finish)


async def test_shutdown_lets_in_flight_work_finish_then_closes_with_1001():
    app = TestApp(make_handler=SlowWorker)
    server = await serve(app)
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
        await ws.send("work")
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(server.close(grace=5))
        assert await ws.recv() == "done"
        await ws.wait_closed()
        assert ws.close_code == 1001
    await closing


async def test_shutdown_closes_idle_websockets_at_once_with_1001():
    server = await serve(TestApp())
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
        await server.close(grace=30)
        await ws.wait_closed()
        assert ws.close_code == 1001


async def test_work_past_the_grace_period_is_cut_off_with_1001():
    class Stuck(SlowWorker):
        delay = 60

    server = await serve(TestApp(make_handler=Stuck))
    async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
        await ws.send("work")
        await asyncio.sleep(0.05)
        await server.close(grace=0.2)
        await ws.wait_closed()
        assert ws.close_code == 1001


async def test_shutdown_stops_accepting():
    server = await serve(TestApp())
    port = server.port
    await server.close(grace=1)
    await server.wait_closed()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_a_slow_http_response_finishes_during_shutdown():
    async def slow(request):
        await asyncio.sleep(0.3)
        return HttpResponse(200, b"finished")

    server = await serve(TestApp(http=slow))
    async with aiohttp.ClientSession() as session:
        request = asyncio.create_task(session.get(f"http://127.0.0.1:{server.port}/"))
        await asyncio.sleep(0.05)
        closing = asyncio.create_task(server.close(grace=5))
        response = await request
        assert response.headers["Connection"] == "close"
        assert await response.read() == b"finished"
        await closing
