"""The application interface of aigw's server: what an app implements and what it gets.

An app is any object with two coroutine methods:

    async def websocket(self, request: Request) -> WebSocketHandler | HttpResponse
        Called once per upgrade request, before the 101 is written. Return a handler to
        accept (its ``subprotocol`` attribute, when set, picks the subprotocol) or an
        HttpResponse to reject (e.g. 401/404 with a JSON body).
    async def http(self, request: Request) -> HttpResponse | StreamedResponse
        Called once per plain HTTP request. Return one of:
        - ``HttpResponse(status, body_bytes, headers)``: sent with Content-Length;
        - ``HttpResponse(status, async_iterable, headers)``: sent chunked as the iterable yields;
        - ``StreamedResponse(produce)``: the server calls ``await produce(response)`` with a
          ``ResponseWriter`` (``aigw.server.http_response``) and the app pushes the answer:
          ``response.start(status, headers)``, ``response.write(chunk)``, ``await
          response.drained()`` while ``not response.is_writable``, ``response.end()``, or
          ``response.abort()`` to end it abnormally (the connection closes without the final
          chunk, so clients raise: a broken stream never ends as a success). ``produce``
          runs in the connection's task, so status and headers can wait for an upstream.
        ``http`` may also be a plain callable that returns a ``StreamedResponse`` itself
        when it knows the answer at once (awaiting one gives it back), or else the awaitable
        of an answer.

Request bodies: by default the server reads the whole body (up to ``max_body_size``, else 413)
before calling ``http``, and ``request.body`` holds it. An app with the attribute
``streams_request_bodies = True`` is called as soon as the head is in and takes the body as
it arrives with ``async for chunk in request.stream()`` or ``await request.read()`` (the limit
still answers 413, ``Expect: 100-continue`` is answered when the app first asks for the body,
and reading pauses while the app has not taken what came). A body the app leaves unread closes
the connection after the response.

Client disconnects: a plain HTTP request's task (``http`` and then ``produce``) is cancelled
when the client goes away, so whatever it awaits (an upstream request) is released at once;
``write`` and ``drained`` raise ``ConnectionClosed`` from then on.

A handler receives one synchronous Python call per event, with no Task or Future per message:
``on_open(ws)``, ``on_message(ws, opcode, payload)``, ``on_close(ws, code, reason)``. ``ws`` is
the connection (``aigw.server.websocket.WebSocket``): ``send_text``, ``send_binary``,
``send``, ``close``, ``is_writable``, ``await drained()``, ``request``, ``subprotocol``,
``work_started()``/``work_finished()``/``in_flight`` for idle tracking and graceful shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Protocol

from aigw.protocol.http11 import HttpResponse, Request
from aigw.slots_maker import slot_writer

if TYPE_CHECKING:
    from aigw.server.http_response import ResponseWriter
    from aigw.server.websocket import WebSocket

__all__ = ["App", "ConnectionClosed", "ServerSettings", "StreamedResponse", "WebSocketHandler", "streamed_response"]


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """Limits and timers of the server; every connection reads them. None disables a timer."""

    #: Largest WebSocket message (after reassembly and inflation); bigger closes with 1009.
    max_message_size: int = 16 * 1024 * 1024
    #: Largest HTTP request head and header count (431 beyond).
    max_head_size: int = 16384
    max_headers: int = 100
    #: Largest plain-HTTP request body (413 beyond).
    max_body_size: int = 16 * 1024 * 1024
    #: Server pings every `ping_interval` s; no pong within `ping_timeout` s closes with 1011.
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    #: A WebSocket with no data message either way and nothing in flight for this long is
    #: closed with 1000 (checked every idle_timeout/2, so it closes within 1.5x of it).
    idle_timeout: float | None = 300.0
    #: How long to wait for the peer's close frame (or for a closing TCP flush) before aborting.
    close_timeout: float = 10.0
    #: Idle keep-alive HTTP connections are closed after this; a request head must also be
    #: complete this long after the connection went idle (408 otherwise).
    http_keepalive_timeout: float = 5.0
    #: A request's head and body must arrive within this many seconds of its first byte,
    #: however slowly the bytes trickle in; otherwise 408 and the connection closes.
    request_read_timeout: float = 60.0
    #: Flow control: above `write_high_water` buffered bytes the connection stops reading and
    #: ``is_writable`` is False until it drains below `write_low_water`.
    write_high_water: int = 1024 * 1024
    write_low_water: int = 256 * 1024
    #: Hard bound on one connection's unsent bytes: an app that keeps sending past it while
    #: the peer is not reading gets the connection aborted (reported as close code 1008).
    write_hard_limit: int = 64 * 1024 * 1024
    #: WebSocket subprotocols the server supports, in preference order.
    subprotocols: tuple[str, ...] = ()
    #: Negotiate permessage-deflate when the client offers it.
    permessage_deflate: bool = False
    #: Codec read buffer per WebSocket connection.
    read_buffer_size: int = 64 * 1024

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_head_size", "max_headers", "max_body_size", "read_buffer_size",
                     "write_high_water", "write_hard_limit"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if not 0 <= self.write_low_water <= self.write_high_water <= self.write_hard_limit:
            raise ValueError("need 0 <= write_low_water <= write_high_water <= write_hard_limit")
        for name in ("ping_interval", "ping_timeout", "idle_timeout"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive or None")
        for name in ("close_timeout", "http_keepalive_timeout", "request_read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


class ConnectionClosed(Exception):
    """Raised by ``await ws.drained()`` once the connection is closed (stop producing), and by
    an HTTP ``ResponseWriter``'s ``write``/``drained`` once the client is gone (code 1006)."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class WebSocketHandler:
    """Base class for per-connection handlers; every callback is optional (default: nothing).
    Callbacks are synchronous and must not block; start tasks for slow work."""

    #: Set (in the app's ``websocket`` or ``__init__``) to choose a subprotocol the client
    #: offered; None lets the server pick from ``ServerSettings.subprotocols``.
    subprotocol: str | None = None

    def on_open(self, ws: WebSocket) -> None:
        """The 101 is queued; messages may be sent."""

    def on_message(self, ws: WebSocket, opcode: int, payload: bytes) -> None:
        """One complete message: opcode 1 (TEXT, payload is valid UTF-8) or 2 (BINARY)."""

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        """The connection is gone (called exactly once, after on_open). `code` is the peer's
        close code, else ours, else 1006 when TCP dropped without a close frame."""


class StreamedResponse:
    """An answer the app writes itself: ``await produce(response)`` runs once the app's
    ``http`` has returned this, with a ``ResponseWriter``. If `produce` returns without
    ``end()`` after ``start()``, the response is ended for it; if it raises before ``start()``
    the client gets a 500, after ``start()`` the response is aborted."""

    __slots__ = ("produce",)

    def __init__(self, produce: Callable[[ResponseWriter], Awaitable[None]]) -> None:
        self.produce = produce

    def __await__(self) -> Generator[Any, None, StreamedResponse]:
        """Awaiting one is the answer itself: an app's ``http`` may return it at once (the
        server takes it as it is), and code that awaits ``http``'s result still gets it."""
        return self
        yield  # a generator that returns at once

    def __repr__(self) -> str:
        return f"<StreamedResponse {self.produce!r}>"


#: `StreamedResponse(produce)` made without a Python `__init__` frame, for the doors that make
#: one per request (aigw.slots_maker.slot_writer).
streamed_response = slot_writer(StreamedResponse, ("produce",), {})


class App(Protocol):
    """What ``serve`` runs: see the module docstring."""

    async def websocket(self, request: Request) -> WebSocketHandler | HttpResponse: ...

    async def http(self, request: Request) -> HttpResponse | StreamedResponse: ...
