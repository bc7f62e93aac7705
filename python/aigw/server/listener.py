"""The listening socket, the set of live connections, and graceful shutdown.

``serve`` runs inside whatever loop is running (uvloop or stock asyncio): the library never
installs a loop policy. Shutdown (``Server.close(grace=...)``):
1. stop accepting;
2. idle keep-alive HTTP connections close now; WebSockets with nothing in flight close
   with 1001 now, the others when their in-flight work finishes;
3. when the grace period ends, every WebSocket still open is closed with 1001 and busy HTTP
   connections are dropped;
4. after ``close_timeout`` more, whatever is left is aborted.
"""

from __future__ import annotations

import asyncio
import ssl as _ssl
from typing import Any

from aigw.server.app import App, ServerSettings
from aigw.server.http import HttpConnection

__all__ = ["Server", "serve"]


class Server:
    """A running aigw server. Use ``await serve(...)`` to make one."""

    def __init__(self, app: App, settings: ServerSettings, loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.settings = settings
        self.loop = loop
        self.connections: set[Any] = set()
        self.shutting_down = False
        # Request heads are read into this and copied out at once (HttpConnection.buffer_updated).
        self.scratch = memoryview(bytearray(64 * 1024))
        self._aserver: asyncio.base_events.Server | None = None
        self._changed = asyncio.Event()
        self._closed = loop.create_future()
        self._close_task: asyncio.Task | None = None

    async def _start(self, host: str | None, port: int, *, ssl: _ssl.SSLContext | None,
                     reuse_port: bool, backlog: int) -> None:
        self._aserver = await self.loop.create_server(
            lambda: HttpConnection(self), host, port, ssl=ssl, reuse_port=reuse_port or None, backlog=backlog
        )

    @property
    def sockets(self) -> tuple:
        """The listening sockets."""
        return tuple(self._aserver.sockets) if self._aserver is not None else ()

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with port=0)."""
        return self.sockets[0].getsockname()[1]

    def connection_gone(self, connection: Any) -> None:
        """Called by a connection when its transport is gone."""
        self.connections.discard(connection)
        if self.shutting_down:
            self._changed.set()

    def changed(self) -> None:
        """A connection became idle or closed (wakes a waiting shutdown)."""
        if self.shutting_down:
            self._changed.set()

    async def close(self, grace: float = 30.0) -> None:
        """Shut down gracefully (see the module docstring); returns when every connection is
        gone. Calling it again waits for the first call."""
        if self._close_task is None:
            self._close_task = self.loop.create_task(self._shutdown(grace))
        await asyncio.shield(self._close_task)

    async def wait_closed(self) -> None:
        """Return once ``close`` has finished."""
        await asyncio.shield(self._closed)

    async def _shutdown(self, grace: float) -> None:
        try:
            self.shutting_down = True
            if self._aserver is not None:
                self._aserver.close()
            for connection in list(self.connections):
                connection.begin_shutdown()
            deadline = self.loop.time() + grace
            await self._wait_until(lambda: all(c.idle for c in self.connections), deadline)
            for connection in list(self.connections):
                connection.force_close()
            await self._wait_until(lambda: not self.connections, self.loop.time() + self.settings.close_timeout)
            for connection in list(self.connections):
                transport = getattr(connection, "_transport", None)
                if transport is not None:
                    transport.abort()
            await asyncio.sleep(0)
        finally:
            if not self._closed.done():
                self._closed.set_result(None)

    async def _wait_until(self, condition, deadline: float) -> None:
        while not condition():
            remaining = deadline - self.loop.time()
            if remaining <= 0:
                return
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def serve(
    app: App,
    host: str | None = "127.0.0.1",
    port: int = 0,
    *,
    ssl: _ssl.SSLContext | None = None,
    settings: ServerSettings | None = None,
    reuse_port: bool = False,
    backlog: int = 1024,
) -> Server:
    """Start serving `app` on the running loop and return the ``Server`` (already listening).
    `ssl` turns on TLS (wss://, https://); `reuse_port` lets several processes share the port."""
    server = Server(app, settings or ServerSettings(), asyncio.get_running_loop())
    await server._start(host, port, ssl=ssl, reuse_port=reuse_port, backlog=backlog)
    return server
