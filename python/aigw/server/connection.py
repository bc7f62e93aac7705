"""The old home of the server's connection classes, kept so existing imports keep working:
``HttpConnection`` now lives in ``aigw.server.http`` and ``WebSocket`` in
``aigw.server.websocket``."""

from aigw.server.http import HttpConnection
from aigw.server.websocket import WebSocket

__all__ = ["HttpConnection", "WebSocket"]
