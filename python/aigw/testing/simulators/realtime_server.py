"""The shared part of the realtime (WebSocket) provider simulators, on the `websockets` library
(a WebSocket stack independent of aigw's).

    async with OpenAIRealtimeSimulator() as sim:       # or GeminiLiveSimulator()
        sim.url                                        # ws://127.0.0.1:PORT
        sim.base_url()                                 # what [providers.<slug>] realtime_url takes

Knobs and recordings common to every realtime simulator:

* ``key`` — the one valid API key;
* ``reject_next(status, count=1)`` — the next upgrades get the provider's HTTP error (401, 404,
  429...) instead of a 101;
* ``close_next(code, reason, after=1)`` — the next connection is closed by the simulator with
  ``code`` after it received ``after`` client messages;
* ``stop_reading()`` / ``resume_reading()`` — a provider that stops reading client messages (the
  `websockets` queue fills, then TCP pushes back on the sender) and later reads again;
* ``connections`` — every accepted or refused upgrade: path, query, headers, subprotocols offered
  and selected; ``messages`` — every client message (text as str, binary as bytes);
  ``client_closes`` — (code, reason) of each connection the client closed; ``open_connections``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

__all__ = ["RealtimeConnection", "RealtimeSimulator", "UpgradeRecord"]


@dataclass
class UpgradeRecord:
    """One upgrade request as the simulator saw it."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lowercase names; repeated headers joined with ", "
    subprotocols: list[str]
    status: int = 101
    subprotocol: str | None = None
    opened_at: float = field(default_factory=time.monotonic)
    closed_at: float | None = None


@dataclass
class RealtimeConnection:
    """One accepted connection: its upgrade and the server-side socket."""

    upgrade: UpgradeRecord
    ws: ServerConnection
    received: int = 0
    state: dict[str, Any] = field(default_factory=dict)

    async def send_json(self, obj: Any, *, binary: bool = False) -> None:
        data = json.dumps(obj, separators=(",", ":"))
        await self.ws.send(data.encode() if binary else data)


class RealtimeSimulator:
    """Base of the realtime simulators (see the module docstring). Subclasses implement
    ``authorized``, ``error_response``, ``path_ok``, ``on_connect`` and ``on_message``."""

    name = ""
    base_path = ""  # what base_url() appends to the root
    subprotocols: tuple[str, ...] = ()

    def __init__(self, *, key: str = "sim-key", handshake_delay: float = 0.0) -> None:
        self.key = key
        #: Seconds before answering an upgrade (the 101 or the refusal).
        self.handshake_delay = handshake_delay
        self._defaults = dict(self.__dict__)
        self._server: Any = None
        self.port = 0
        self.reset()

    def reset(self) -> None:
        """Forget recordings and pending rejections/closes; knobs back to their defaults."""
        for name, value in self._defaults.items():
            setattr(self, name, value)
        self.connections: list[UpgradeRecord] = []
        self.messages: list[str | bytes] = []
        self.client_closes: list[tuple[int, str]] = []
        self.open_connections: list[RealtimeConnection] = []
        self._rejections: list[int] = []
        self._closes: list[tuple[int, str, int]] = []
        self.connection_closed = asyncio.Event()
        self._reading = asyncio.Event()
        self._reading.set()

    # -- knobs --
    def reject_next(self, status: int, count: int = 1) -> None:
        """Answer the next `count` upgrades with the provider's `status` error."""
        self._rejections.extend([status] * count)

    def close_next(self, code: int, reason: str = "", *, after: int = 1) -> None:
        """Close the next connection with `code` once it received `after` client messages."""
        self._closes.append((code, reason, after))

    def stop_reading(self) -> None:
        """Stop taking client messages off every connection until ``resume_reading``."""
        self._reading.clear()

    def resume_reading(self) -> None:
        """Take client messages again."""
        self._reading.set()

    # -- lifecycle --
    @property
    def url(self) -> str:
        """ws://127.0.0.1:PORT"""
        return f"ws://127.0.0.1:{self.port}"

    def base_url(self) -> str:
        """The WebSocket base a gateway's `realtime_url` points at."""
        return self.url + self.base_path

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            compression=None,
            ping_interval=None,
            max_size=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> RealtimeSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- handshake --
    def _select_subprotocol(self, connection: ServerConnection, offered: list[str]) -> str | None:
        return next((p for p in offered if p in self.subprotocols), None)

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        offered = [t.strip() for v in request.headers.get_all("Sec-WebSocket-Protocol") for t in v.split(",") if t.strip()]
        record = UpgradeRecord(
            parts.path,
            dict(parse_qsl(parts.query, keep_blank_values=True)),
            {k.lower(): ", ".join(request.headers.get_all(k)) for k in request.headers.keys()},
            offered,
        )
        self.connections.append(record)
        connection.upgrade_record = record  # type: ignore[attr-defined]
        if self.handshake_delay:
            await asyncio.sleep(self.handshake_delay)
        status = None
        if self._rejections:
            status = self._rejections.pop(0)
        elif not self.path_ok(record):
            status = 404
        elif not self.authorized(record):
            status = 401
        else:
            status = self.refusal(record)
        if status is None:
            return None
        record.status = status
        body = json.dumps(self.error_response(status)).encode()
        headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        if status == 429:
            headers["Retry-After"] = "2"
        for name, value in self.refusal_headers(status):
            headers[name] = value
        return Response(status, HTTPStatus(status).phrase, headers, body)

    # -- the connection --
    async def _handle(self, ws: ServerConnection) -> None:
        record: UpgradeRecord = ws.upgrade_record  # type: ignore[attr-defined]
        record.subprotocol = ws.subprotocol
        conn = RealtimeConnection(record, ws)
        self.open_connections.append(conn)
        close_plan = self._closes.pop(0) if self._closes else None
        try:
            await self.on_connect(conn)
            while True:
                await self._reading.wait()
                message = await ws.recv()
                self.messages.append(message)
                conn.received += 1
                await self.on_message(conn, message)
                if close_plan is not None and conn.received >= close_plan[2]:
                    await ws.close(close_plan[0], close_plan[1])
                    break
        except ConnectionClosed:
            pass
        finally:
            record.closed_at = time.monotonic()
            proto = ws.protocol
            if proto.close_rcvd is not None and proto.close_rcvd_then_sent:
                self.client_closes.append((proto.close_rcvd.code, proto.close_rcvd.reason))
            with contextlib.suppress(ValueError):
                self.open_connections.remove(conn)
            await self.on_disconnect(conn)
            self.connection_closed.set()

    # -- what a provider fills in --
    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        """Whether the provider serves a WebSocket at this path (else 404)."""
        raise NotImplementedError

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        """Whether the upgrade carries the valid key (else 401)."""
        raise NotImplementedError

    def error_response(self, status: int) -> Any:
        """The provider's JSON error body for a refused upgrade."""
        raise NotImplementedError

    def refusal(self, upgrade: UpgradeRecord) -> int | None:
        """Another reason to refuse an authorized upgrade (a status such as 400), or None."""
        return None

    def refusal_headers(self, status: int) -> list[tuple[str, str]]:
        """Provider-specific headers of a refusal (besides Content-Type and Retry-After)."""
        return []

    async def on_connect(self, conn: RealtimeConnection) -> None:
        """The 101 is sent (greet the client here)."""

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        """One client message."""

    async def on_disconnect(self, conn: RealtimeConnection) -> None:
        """The connection is gone."""


def words(text: str) -> int:
    """Tokens of a text as the simulators count them: whitespace-separated words."""
    return len(text.split())


def pieces(text: str, n: int) -> list[str]:
    """`text` cut into at most `n` consecutive pieces that join back into it."""
    if not text:
        return [""]
    n = max(1, min(n, len(text)))
    size = -(-len(text) // n)
    return [text[i: i + size] for i in range(0, len(text), size)]
