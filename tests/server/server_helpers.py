"""A raw WebSocket client over asyncio streams (framing by the codec's client mode), and small
apps the server tests run."""

from __future__ import annotations

import asyncio
import base64
import os

from aigw import _codec
from aigw.server import HttpResponse, WebSocketHandler


class RawClient:
    """A client that does exactly what a test says: nothing automatic (no pong, no reading)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.codec = _codec.WsCodec(client=True, auto_pong=False)
        self.events: list[tuple] = []

    @classmethod
    async def open(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    @classmethod
    async def upgrade(cls, port: int, path: str = "/") -> RawClient:
        client = await cls.open(port)
        status, _ = await client.request(upgrade_request(path))
        assert status == 101
        return client

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send raw request bytes; return the response status and head."""
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        return int(head.split(b" ", 2)[1]), head

    def send(self, method: str, *args) -> None:
        getattr(self.codec, method)(*args)
        self.writer.write(self.codec.data_to_send())

    async def next_event(self) -> tuple:
        """The next WebSocket event from the server (raises IncompleteReadError at EOF)."""
        while not self.events:
            data = await self.reader.read(65536)
            if not data:
                raise asyncio.IncompleteReadError(b"", None)
            self.events.extend(self.codec.receive_data(data))
        return self.events.pop(0)

    def close(self) -> None:
        self.writer.close()


def upgrade_request(path: str = "/", *extra: str, version: str = "13", method: str = "GET") -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", f"Sec-WebSocket-Version: {version}", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Recorder(WebSocketHandler):
    """Echoes like the echo app and records what happened to the connection."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.closed = asyncio.get_running_loop().create_future()
        self.ws = None

    def on_open(self, ws) -> None:
        self.ws = ws
        self.opened.set()

    def on_message(self, ws, opcode: int, payload: bytes) -> None:
        ws.send(opcode, payload)

    def on_close(self, ws, code: int, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result((code, reason))


class TestApp:
    """Hands each upgrade a handler from `make_handler`; plain HTTP gets `http` or a 200."""

    __test__ = False

    def __init__(self, make_handler=Recorder, http=None, websocket=None) -> None:
        self.make_handler = make_handler
        self.handlers: list = []
        self._http = http
        self._websocket = websocket

    async def websocket(self, request):
        if self._websocket is not None:
            return await self._websocket(request)
        handler = self.make_handler()
        self.handlers.append(handler)
        return handler

    async def http(self, request):
        if self._http is not None:
            return await self._http(request)
        return HttpResponse(200, b"plain " + request.path.encode(), content_type="text/plain")
