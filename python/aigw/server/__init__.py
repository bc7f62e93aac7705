"""aigw's server core: an asyncio BufferedProtocol HTTP/1.1 + WebSocket server over the Rust
codec. ``await serve(app, host, port)`` runs an app (see ``aigw.server.app``) on the running
loop, uvloop or stock asyncio."""

from aigw.protocol.http11 import Headers, HttpResponse, Request
from aigw.server.app import App, ConnectionClosed, ServerSettings, StreamedResponse, WebSocketHandler
from aigw.server.http_response import ResponseWriter
from aigw.server.websocket import WebSocket
from aigw.server.listener import Server, serve

TEXT = 1
BINARY = 2

__all__ = [
    "BINARY",
    "TEXT",
    "App",
    "ConnectionClosed",
    "Headers",
    "HttpResponse",
    "Request",
    "ResponseWriter",
    "Server",
    "ServerSettings",
    "StreamedResponse",
    "WebSocket",
    "WebSocketHandler",
    "serve",
]
