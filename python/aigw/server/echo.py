"""The echo app: WebSocket text back as text, binary as binary; HTTP bodies echoed back.
Driven by Autobahn (kosoku), the benchmarks and `aigw echo`."""

from __future__ import annotations

from aigw.protocol.http11 import HttpResponse, Request
from aigw.server.app import ServerSettings, WebSocketHandler
from aigw.server.websocket import WebSocket

__all__ = ["EchoApp", "EchoHandler", "echo_settings"]


class EchoHandler(WebSocketHandler):
    """Sends every message back with its opcode. Stateless: one instance serves all."""

    __slots__ = ()

    def on_message(self, ws: WebSocket, opcode: int, payload: bytes) -> None:
        ws.send(opcode, payload)


class EchoApp:
    """Accepts every upgrade; answers plain HTTP with the request body (or a greeting)."""

    def __init__(self) -> None:
        self._handler = EchoHandler()

    async def websocket(self, request: Request) -> WebSocketHandler:
        return self._handler

    async def http(self, request: Request) -> HttpResponse:
        if request.body:
            ctype = request.headers.get("content-type", "application/octet-stream")
            return HttpResponse(200, request.body, content_type=ctype)
        return HttpResponse(200, b"aigw echo\n", content_type="text/plain; charset=utf-8")


def echo_settings(**overrides) -> ServerSettings:
    """Settings for echo/conformance runs: permessage-deflate on, no idle close."""
    base = dict(permessage_deflate=True, idle_timeout=None)
    base.update(overrides)
    return ServerSettings(**base)
