"""Flow control: a peer that does not read never makes the server buffer without bound, and
producers are told to stop (is_writable / drained) and resume."""

import asyncio

import websockets
from server_helpers import RawClient, Recorder, TestApp

from aigw.server import ServerSettings, serve

HIGH = 256 * 1024
MESSAGE = 64 * 1024


class Watcher(Recorder):
    """Echoes and records the most bytes the connection ever had unsent."""

    def __init__(self):
        super().__init__()
        self.max_buffered = 0

    def on_message(self, ws, opcode, payload):
        ws.send(opcode, payload)
        self.max_buffered = max(self.max_buffered, ws.buffered_amount)


async def until_not_writable(handler) -> None:
    while handler.ws is None or handler.ws.is_writable:
        await asyncio.sleep(0.01)


async def test_a_client_that_never_reads_is_bounded_and_others_keep_working():
    settings = ServerSettings(write_high_water=HIGH, write_low_water=HIGH // 4, read_buffer_size=MESSAGE + 64)
    app = TestApp(make_handler=Watcher)
    async with await serve(app, settings=settings) as server:
        hog = await RawClient.upgrade(server.port)
        for _ in range(400):  # 25 MiB of echo requests, never reading a byte back
            hog.send("send_binary", b"x" * MESSAGE)
        await asyncio.wait_for(until_not_writable(app.handlers[0]), 10)
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            for i in range(20):
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
        await asyncio.sleep(0.2)
        watcher = app.handlers[0]
        assert watcher.max_buffered <= HIGH + 2 * (MESSAGE + 64)
        assert watcher.ws.buffered_amount <= HIGH + 2 * (MESSAGE + 64)
        hog.writer.transport.abort()


class Producer(Recorder):
    """On "go" streams `count` binary messages, pausing whenever the connection says so."""

    count = 200

    def __init__(self):
        super().__init__()
        self.waits = 0
        self.max_buffered = 0

    def on_message(self, ws, opcode, payload):
        asyncio.get_running_loop().create_task(self.produce(ws))

    async def produce(self, ws):
        for i in range(self.count):
            if not ws.is_writable:
                self.waits += 1
                await ws.drained()
            ws.send_binary(i.to_bytes(4, "big") * (MESSAGE // 4))
            self.max_buffered = max(self.max_buffered, ws.buffered_amount)
            await asyncio.sleep(0)


async def test_a_producer_is_paused_and_resumed_by_the_peers_reading():
    settings = ServerSettings(write_high_water=HIGH, write_low_water=HIGH // 4)
    app = TestApp(make_handler=Producer)
    async with await serve(app, settings=settings) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", max_queue=1) as ws:
            await ws.send("go")
            await asyncio.sleep(0.2)  # let the server fill the pipe while we do not read
            for i in range(Producer.count):
                assert (await ws.recv())[:4] == i.to_bytes(4, "big")
        producer = app.handlers[0]
        assert producer.waits > 0
        assert producer.max_buffered <= HIGH + 2 * MESSAGE


class Flooder(Recorder):
    """Ignores flow control: pushes 1 MiB per tick until the connection goes."""

    def on_open(self, ws):
        super().on_open(ws)
        asyncio.get_running_loop().create_task(self.flood(ws))

    async def flood(self, ws):
        chunk = b"f" * (1024 * 1024)
        while not self.closed.done():
            ws.send_binary(chunk)
            await asyncio.sleep(0)


async def test_an_app_sending_past_the_hard_limit_gets_the_connection_aborted():
    settings = ServerSettings(write_high_water=HIGH, write_low_water=HIGH // 4, write_hard_limit=4 * 1024 * 1024)
    app = TestApp(make_handler=Flooder)
    async with await serve(app, settings=settings) as server:
        client = await RawClient.upgrade(server.port)  # never reads
        code, reason = await asyncio.wait_for(app.handlers[0].closed, 10)
        assert code == 1008
        assert "not reading" in reason
        client.close()


class Counter(Recorder):
    """Counts messages without answering them."""

    def __init__(self):
        super().__init__()
        self.received = 0

    def on_message(self, ws, opcode, payload):
        self.received += 1


async def test_pause_reading_stops_delivery_until_resume_reading_and_loses_nothing():
    app = TestApp(make_handler=Counter)
    async with await serve(app, settings=ServerSettings(read_buffer_size=MESSAGE + 64)) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", max_size=None) as ws:
            await ws.send(b"first")
            handler = app.handlers[0]
            while handler.received < 1:
                await asyncio.sleep(0.01)
            handler.ws.pause_reading()
            sender = asyncio.create_task(_send_many(ws, 400))  # 25 MiB: more than the sockets hold
            await asyncio.sleep(0.5)
            assert handler.received == 1 and not sender.done()
            handler.ws.resume_reading()
            await asyncio.wait_for(sender, 10)
            while handler.received < 401:
                await asyncio.sleep(0.01)


async def test_a_close_while_reading_is_paused_still_completes_the_closing_handshake():
    app = TestApp(make_handler=Counter)
    async with await serve(app) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/") as ws:
            await app.handlers[0].opened.wait()
            handler = app.handlers[0]
            handler.ws.pause_reading()
            handler.ws.close(4000, "done")
            await asyncio.wait_for(ws.wait_closed(), 2)
            assert (ws.close_code, ws.close_reason) == (4000, "done")
        assert await asyncio.wait_for(handler.closed, 2) == (4000, "done")


async def _send_many(ws, count: int) -> None:
    for _ in range(count):
        await ws.send(b"x" * MESSAGE)
