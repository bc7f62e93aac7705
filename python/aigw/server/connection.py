"""One client connection: an asyncio BufferedProtocol for HTTP/1.1 that becomes a WebSocket.

``HttpConnection`` reads request heads (into a per-server scratch buffer, then the sans-I/O
``RequestReader``), runs the app's ``http``/``websocket`` coroutine for each request and
writes responses. On an accepted upgrade it hands the transport to a ``WebSocket`` with
``transport.set_protocol``; from then on the loop reads straight into the codec's buffer
(``WebSocket.get_buffer`` *is* ``WsCodec.get_buffer``: no Python frame per read).

Rules this module keeps:
- One transport write per loop tick per connection: sends append to the codec's output queue
  and one ``_flush`` (scheduled with ``call_soon``, or run at the end of a dispatched read
  batch) writes it all.
- Flow control: above the transport's high-water mark the connection stops reading and
  ``is_writable`` turns False until it drains; ``await ws.drained()`` waits for that.
  Memory per connection is bounded: if the app keeps sending while the peer is not reading
  and the unsent bytes pass ``write_hard_limit``, the connection is aborted (reported to
  ``on_close`` as 1008); a close frame could never reach a peer that does not read.
- Timers: keepalive ping (1011 when no pong within ping_timeout), idle close (1000 when no
  data message arrived and ``in_flight`` stayed 0), close timeout (abort when the peer does
  not finish the closing handshake).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aigw import _codec
from aigw.protocol.handshake import (
    accept_response,
    is_websocket_upgrade,
    negotiate_extensions,
    offered_subprotocols,
    select_subprotocol,
    validate_upgrade,
)
from aigw.protocol.http11 import (
    CONTINUE,
    LAST_CHUNK,
    HttpError,
    HttpResponse,
    Request,
    RequestReader,
    chunk,
    error_response,
    serialize_response_head,
)
from aigw.protocol.websocket import CLOSED, OPEN, PONG, WebSocketConnection
from aigw.server.app import ConnectionClosed

if TYPE_CHECKING:
    from aigw.server.listener import Server

__all__ = ["HttpConnection", "WebSocket"]

log = logging.getLogger("aigw.server")

ABNORMAL = 1006
POLICY = 1008
INTERNAL = 1011
GOING_AWAY = 1001


class HttpConnection(asyncio.BufferedProtocol):
    """The HTTP/1.1 phase of a connection (keep-alive, one request at a time)."""

    __slots__ = (
        "_server", "_loop", "_transport", "_reader", "_busy", "_lost", "_closing", "_timer",
        "_write_paused", "_drain_waiter", "_out", "_flush_scheduled",
    )

    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._reader: RequestReader | None = None
        self._busy = False  # a request is being handled (reading paused)
        self._lost = False
        self._closing = False
        self._timer: asyncio.TimerHandle | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._out: list[bytes] = []
        self._flush_scheduled = False

    # -- asyncio callbacks --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:
        settings = self._server.settings
        self._transport = transport
        transport.set_write_buffer_limits(settings.write_high_water, settings.write_low_water)
        self._reader = RequestReader(
            max_head_size=settings.max_head_size,
            max_headers=settings.max_headers,
            max_body_size=settings.max_body_size,
            client=transport.get_extra_info("peername"),
            tls=transport.get_extra_info("sslcontext") is not None,
        )
        self._server.connections.add(self)
        self._arm_timer()

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._server.scratch

    def buffer_updated(self, nbytes: int) -> None:
        self._reader.feed(self._server.scratch[:nbytes])
        self._process()

    def eof_received(self) -> bool:
        return False  # the transport closes itself; a half-closed client gets no response

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._cancel_timer()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self._server.connection_gone(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # -- requests -----------------------------------------------------------------------------

    def _process(self) -> None:
        """Start handling the next complete request, if any and none is running."""
        if self._busy or self._closing:
            return
        try:
            request = self._reader.next_request()
        except HttpError as e:
            self._fail(e)
            return
        if request is None:
            if self._reader.body_remaining > 0:
                self._arm_timer()  # a body in progress gets the timeout per read, not in total
                if self._reader.take_continue():
                    self._transport.write(CONTINUE)
            return
        self._cancel_timer()
        self._busy = True
        self._transport.pause_reading()
        self._loop.create_task(self._handle(request))

    def _fail(self, error: HttpError) -> None:
        """Answer a request the server refuses itself, then close."""
        self._closing = True
        self._transport.write(error_response(error.status, error.message, error.headers))
        self._transport.close()

    async def _handle(self, request: Request) -> None:
        try:
            if is_websocket_upgrade(request):
                await self._upgrade(request)
                return
            try:
                response = await self._server.app.http(request)
            except Exception:
                log.exception("app.http failed for %r", request)
                response = HttpResponse(500, b"internal server error\n", content_type="text/plain")
            if self._lost:
                return
            keep_alive = request.keep_alive and not self._server.shutting_down
            keep_alive = await self._respond(request, response, keep_alive)
        except Exception:
            log.exception("connection failed while answering %r", request)
            keep_alive = False
            if self._transport is not None:
                self._transport.abort()
            return
        if not keep_alive or self._lost or self._server.shutting_down:
            self._closing = True
            self._transport.close()
            return
        self._busy = False
        self._transport.resume_reading()
        self._arm_timer()
        self._process()

    async def _respond(self, request: Request, response: HttpResponse, keep_alive: bool) -> bool:
        """Write `response`; returns whether the connection may be kept."""
        transport = self._transport
        head_only = request.method == "HEAD" or response.status in (204, 304) or response.status < 200
        if not response.streaming:
            body = response.body
            head = serialize_response_head(
                response.status, response.headers, content_length=len(body), close=not keep_alive
            )
            if head_only or not body:
                transport.write(head)
            elif len(body) < 65536:
                transport.write(head + body)
            else:
                transport.writelines((head, body))
            return keep_alive
        chunked = request.http_version == "1.1"
        keep_alive = keep_alive and chunked  # HTTP/1.0: the body ends when the connection does
        body = response.body
        try:
            transport.write(serialize_response_head(
                response.status, response.headers, chunked=chunked, close=not keep_alive
            ))
            if head_only:
                return keep_alive
            async for piece in body:
                if self._lost:
                    return False
                if piece:
                    self._queue(chunk(piece) if chunked else bytes(piece))
                if self._write_paused:
                    await self._drained()
        finally:
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        if self._lost:
            return False
        if chunked:
            self._out.append(LAST_CHUNK)
        self._flush()  # the response is complete on the wire before the connection moves on
        return keep_alive

    def _queue(self, data: bytes) -> None:
        """Append to the output; one write per tick."""
        self._out.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._out and not self._lost:
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._transport.write(data)

    async def _drained(self) -> None:
        while self._write_paused and not self._lost:
            self._drain_waiter = self._loop.create_future()
            await self._drain_waiter

    # -- WebSocket upgrade --------------------------------------------------------------------

    async def _upgrade(self, request: Request) -> None:
        server = self._server
        settings = server.settings
        try:
            key = validate_upgrade(request)
            request.subprotocols = offered_subprotocols(request)
            extensions, deflate = negotiate_extensions(request, deflate=settings.permessage_deflate)
        except HttpError as e:
            self._fail(e)
            return
        try:
            result = await server.app.websocket(request)
            if isinstance(result, HttpResponse):
                if not self._lost:
                    await self._respond(request, result, keep_alive=False)
                    self._closing = True
                    self._transport.close()
                return
            subprotocol = getattr(result, "subprotocol", None)
            if subprotocol is None:
                subprotocol = select_subprotocol(request.subprotocols, settings.subprotocols)
            elif subprotocol not in request.subprotocols:
                raise ValueError(f"handler chose subprotocol {subprotocol!r}, which the client did not offer")
            head = accept_response(key, subprotocol=subprotocol, extensions=extensions)
            codec = _codec.WsCodec(
                max_message_size=settings.max_message_size,
                deflate=deflate,
                read_buffer_size=settings.read_buffer_size,
            )
        except Exception:
            log.exception("app.websocket failed for %r", request)
            if not self._lost:
                self._fail(HttpError(500, "internal server error"))
            return
        if self._lost:
            return
        if server.shutting_down:
            self._fail(HttpError(503, "server shutting down"))
            return
        ws = WebSocket(server, self._transport, request, result, codec, subprotocol)
        ws._write_paused = self._write_paused  # the transport's flow-control state carries over
        server.connections.discard(self)
        server.connections.add(ws)
        self._transport.set_protocol(ws)
        ws._start(head, self._reader.take_remaining())

    # -- timers and shutdown ------------------------------------------------------------------

    def _arm_timer(self) -> None:
        self._cancel_timer()
        self._timer = self._loop.call_later(self._server.settings.http_keepalive_timeout, self._timed_out)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if not self._busy and not self._lost:
            self._closing = True
            self._transport.close()

    def begin_shutdown(self) -> None:
        """Server shutdown: an idle keep-alive connection closes now; a busy one closes after
        its response (which says `Connection: close`)."""
        if not self._busy and not self._lost:
            self._closing = True
            self._transport.close()

    def force_close(self) -> None:
        """Grace period over: a connection still answering a request is dropped."""
        if self._busy and not self._lost and self._transport is not None:
            self._transport.abort()

    @property
    def idle(self) -> bool:
        """Nothing in flight (used by graceful shutdown)."""
        return not self._busy


class WebSocket(WebSocketConnection, asyncio.BufferedProtocol):
    """An open WebSocket connection: the asyncio protocol after the upgrade and the ``ws``
    object handlers receive. Its sans-I/O state lives in ``WebSocketConnection``."""

    __slots__ = (
        "get_buffer", "request", "subprotocol", "handler", "_server", "_loop", "_transport",
        "_on_message", "_flush_scheduled", "_write_paused", "_drain_waiters", "_head", "_in_flight",
        "_activity", "_idle_since", "_ping_timer", "_ping_outstanding", "_ping_sent_at",
        "_idle_timer", "_close_timer", "_lost", "_opened", "_hard_limit", "_shutting_down",
        "_tcp_closing",
    )

    def __init__(
        self,
        server: Server,
        transport: asyncio.Transport,
        request: Request,
        handler,
        codec: _codec.WsCodec,
        subprotocol: str | None,
    ) -> None:
        WebSocketConnection.__init__(self, codec)
        # The loop calls the codec's get_buffer directly (uvloop caches it at set_protocol).
        self.get_buffer = codec.get_buffer
        self.request = request
        self.subprotocol = subprotocol
        self.handler = handler
        self._server = server
        self._loop = server.loop
        self._transport = transport
        self._on_message = handler.on_message
        self._flush_scheduled = False
        self._write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._head: bytes | None = None
        self._in_flight = 0
        self._activity = False
        self._idle_since = 0.0
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_outstanding = False
        self._ping_sent_at = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._lost = False
        self._opened = False
        self._hard_limit = server.settings.write_hard_limit
        self._shutting_down = False
        self._tcp_closing = False

    def _start(self, head: bytes, leftover: bytes) -> None:
        """Called once after set_protocol: queue the 101, open, parse bytes that came early."""
        self._head = head
        self._flush_scheduled = True
        settings = self._server.settings
        loop = self._loop
        self._idle_since = loop.time()
        if settings.ping_interval:
            self._ping_timer = loop.call_later(settings.ping_interval, self._send_keepalive_ping)
        if settings.idle_timeout:
            self._idle_timer = loop.call_later(settings.idle_timeout / 2, self._check_idle)
        self._opened = True
        try:
            self.handler.on_open(self)
        except Exception:
            log.exception("on_open failed")
            self.close(INTERNAL, "internal error")
        if leftover and self.state is not CLOSED:
            self._dispatch(self.codec.receive_data(leftover))
        self._flush()
        if not self._lost:
            self._transport.resume_reading()

    # -- asyncio callbacks (hot path) ---------------------------------------------------------

    def buffer_updated(self, nbytes: int) -> None:
        events = self.codec.buffer_updated(nbytes)
        if events and self.state is not CLOSED:
            self._flush_scheduled = True  # sends during the batch wait for the flush below
            self._dispatch(events)
            self._flush()

    def _dispatch(self, events: list) -> None:
        on_message = self._on_message
        active = False
        try:
            for event in events:
                opcode = event[0]
                if opcode < 3:  # TEXT or BINARY
                    active = True
                    on_message(self, opcode, event[1])
                elif opcode == PONG:
                    self._ping_outstanding = False
                else:
                    self.handle_control(event)  # PING (already ponged), CLOSE, FAIL
                    if self.state is CLOSED:
                        break
        except Exception:
            log.exception("on_message failed")
            self.close(INTERNAL, "internal error")
        if active:
            self._activity = True

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._lost:
            return
        data = self.codec.data_to_send_vectored()  # bytes, or a list when large payloads are spliced
        transport = self._transport
        if data.__class__ is list:
            if self._head is not None:
                data.insert(0, self._head)
                self._head = None
            transport.writelines(data)  # the app's own payload objects: no copy
        else:
            if self._head is not None:
                data = self._head + data
                self._head = None
            if data:
                transport.write(data)
        if data:
            if self._write_paused and transport.get_write_buffer_size() > self._hard_limit:
                self._abort(POLICY, "send buffer limit exceeded: the peer is not reading")
                return
        if self.state is CLOSED and not self._tcp_closing:
            self._tcp_closing = True  # RFC 6455 §7.1.1: the server closes TCP first
            transport.close()
            self._arm_close_timer()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._transport.pause_reading()  # a peer that does not read stops being read

    def resume_writing(self) -> None:
        self._write_paused = False
        if not self._lost and not self._tcp_closing:
            self._transport.resume_reading()
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for timer in (self._ping_timer, self._idle_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if self.close_code is None:
            self.close_code, self.close_reason = ABNORMAL, "connection lost"
        self.state = CLOSED
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(ConnectionClosed(self.close_code, self.close_reason))
        self._server.connection_gone(self)
        if self._opened:
            try:
                self.handler.on_close(self, self.close_code, self.close_reason)
            except Exception:
                log.exception("on_close failed")

    # -- the app's interface ------------------------------------------------------------------

    def send_text(self, data: bytes | str) -> None:
        """Queue a text message (bytes must be UTF-8). Dropped once the connection is closing."""
        if self.state is OPEN:
            self.codec.send_text(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message. Dropped once the connection is closing."""
        if self.state is OPEN:
            self.codec.send_binary(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)

    def send(self, opcode: int, data: bytes | str) -> None:
        """Queue a message with `opcode` 1 (text) or 2 (binary)."""
        if self.state is OPEN:
            if opcode == 1:
                self.codec.send_text(data)
            else:
                self.codec.send_binary(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (the codec answers the peer's pings itself)."""
        if self.state is OPEN:
            self.codec.send_ping(data)
            self._schedule_flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection aborts if the peer does not answer
        within ``close_timeout``. A no-op once closing."""
        if self.state is not OPEN or self._lost:
            return
        self.send_close(code, reason)
        self._schedule_flush()
        self._arm_close_timer()

    def flush_soon(self) -> None:
        """Schedule this tick's write after queueing frames on ``codec`` directly (the stream
        relay frames chunks in Rust). Callers check ``closed`` before writing to the codec."""
        if self.state is OPEN:
            self._schedule_flush()

    @property
    def is_writable(self) -> bool:
        """False while the peer is behind (unsent bytes above the high-water mark) or the
        connection is closing: producers should pause and ``await drained()``."""
        return not self._write_paused and self.state is OPEN

    async def drained(self) -> None:
        """Return once the connection can take more output; raises ConnectionClosed when it
        is closing or closed."""
        if self.state is not OPEN:
            raise ConnectionClosed(self.close_code or ABNORMAL, self.close_reason)
        if self._write_paused:
            fut = self._loop.create_future()
            self._drain_waiters.append(fut)
            await fut

    @property
    def buffered_amount(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        if self._lost:
            return 0
        return self.codec.output_size + self._transport.get_write_buffer_size()

    @property
    def in_flight(self) -> int:
        """Units of work the app said are running for this connection."""
        return self._in_flight

    def work_started(self) -> None:
        """The app started a unit of work (a request): the connection is not idle."""
        self._in_flight += 1

    def work_finished(self) -> None:
        """A unit of work ended. During shutdown the last one closes the connection (1001)."""
        if self._in_flight > 0:
            self._in_flight -= 1
        if self._in_flight == 0:
            self._activity = True
            if self._shutting_down:
                self.close(GOING_AWAY, "server shutting down")
                self._server.changed()

    @property
    def closed(self) -> bool:
        """Whether the connection has left OPEN."""
        return self.state is not OPEN

    # -- internals ----------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _abort(self, code: int, reason: str) -> None:
        self.state = CLOSED
        if self.close_code is None or self.close_received is None:
            self.close_code, self.close_reason = code, reason
        self._tcp_closing = True
        self._transport.abort()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            self._close_timer = self._loop.call_later(self._server.settings.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        if not self._lost:
            self._abort(self.close_code or ABNORMAL, self.close_reason or "close handshake timed out")

    def _send_keepalive_ping(self) -> None:
        self._ping_timer = None
        if self.state is not OPEN or self._lost:
            return
        self.codec.send_ping(b"aigw")
        self._schedule_flush()
        self._ping_outstanding = True
        self._ping_sent_at = self._loop.time()
        settings = self._server.settings
        wait = settings.ping_timeout if settings.ping_timeout else settings.ping_interval
        self._ping_timer = self._loop.call_later(wait, self._check_pong)

    def _check_pong(self) -> None:
        self._ping_timer = None
        if self.state is not OPEN or self._lost:
            return
        settings = self._server.settings
        if self._ping_outstanding and settings.ping_timeout:
            self.close(INTERNAL, "keepalive ping timeout")
            return
        delay = max(0.0, self._ping_sent_at + settings.ping_interval - self._loop.time())
        self._ping_timer = self._loop.call_later(delay, self._send_keepalive_ping)

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self.state is not OPEN or self._lost:
            return
        timeout = self._server.settings.idle_timeout
        now = self._loop.time()
        if self._activity or self._in_flight:
            self._activity = False
            self._idle_since = now
        elif now - self._idle_since >= timeout:
            self.close(1000, "idle timeout")
            return
        self._idle_timer = self._loop.call_later(timeout / 2, self._check_idle)

    def begin_shutdown(self) -> None:
        """Server shutdown: close with 1001 now when nothing is in flight, else when the last
        unit of work finishes (``work_finished``) or the grace period ends."""
        self._shutting_down = True
        if self._in_flight == 0:
            self.close(GOING_AWAY, "server shutting down")

    def force_close(self) -> None:
        """Grace period over: close with 1001 whatever is in flight."""
        self.close(GOING_AWAY, "server shutting down")

    @property
    def idle(self) -> bool:
        """Nothing in flight (graceful shutdown waits for this)."""
        return self._in_flight == 0 or self.state is not OPEN
