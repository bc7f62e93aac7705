"""An open WebSocket connection: the asyncio protocol after the upgrade, and the ``ws`` object
handlers receive (``aigw.server.app``).

After an accepted upgrade ``HttpConnection`` hands the transport over with
``transport.set_protocol``; from then on the loop reads straight into the codec's buffer
(``WebSocket.get_buffer`` *is* ``WsCodec.get_buffer``) and ``buffer_updated`` is a builtin
doing ``_received``'s work (rust/src/python/ws_receive.rs): no Python frame per read. The
protocol's meaning (closing handshake, which events a batch delivers, pongs) is the sans-I/O
``WebSocketConnection`` this object holds (composition, as the websockets library does): the
code the protocol tests check is the code that runs here.

Rules this module keeps:
- One transport write per loop tick per connection: sends append to the codec's output queue
  and one ``_flush`` (``_write_out`` scheduled with ``call_soon``, or run at the end of a
  dispatched read batch) writes it all.
- Flow control: above the transport's high-water mark the connection stops reading and
  ``is_writable`` turns False until it drains; ``await ws.drained()`` waits for that. The app
  may also stop reading the peer itself (``pause_reading``/``resume_reading``: a relay whose
  other side is behind); the transport reads again only when neither holds it.
  Memory per connection is bounded: if the app keeps sending while the peer is not reading
  and the unsent bytes pass ``write_hard_limit``, the connection is aborted (reported to
  ``on_close`` as 1008); a close frame could never reach a peer that does not read.
- Timers: keepalive ping (1011 when no pong within ping_timeout), idle close (1000 when no
  data message arrived and ``in_flight`` stayed 0), close timeout (abort when the peer does
  not finish the closing handshake).
- Messages sent outside OPEN follow the protocol's rule (no message after our close frame)
  but are dropped instead of raising: a late send from a task racing the close is not a bug.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aigw import _codec
from aigw.protocol.http11 import Request
from aigw.protocol.relay_read import relay_failed
from aigw.protocol.websocket import CLOSED, OPEN, State, WebSocketConnection
from aigw.server.app import ConnectionClosed

if TYPE_CHECKING:
    from aigw.server.listener import Server

__all__ = ["WebSocket"]

log = logging.getLogger("aigw.server")

ABNORMAL = 1006
POLICY = 1008
INTERNAL = 1011
GOING_AWAY = 1001


class WebSocket(asyncio.BufferedProtocol):
    """An open WebSocket connection: the asyncio protocol after the upgrade and the ``ws``
    object handlers receive. Its protocol state is ``self.protocol`` (a sans-I/O
    ``WebSocketConnection`` over ``self.codec``)."""

    __slots__ = (
        "get_buffer", "protocol", "codec", "request", "subprotocol", "handler", "_server", "_loop",
        "_transport", "_on_message", "_flush_scheduled", "write_paused", "_drain_waiters", "_head",
        "_in_flight", "_activity", "_idle_since", "_ping_timer", "_ping_sent_at",
        "_idle_timer", "_close_timer", "_lost", "_opened", "_hard_limit", "_shutting_down",
        "_tcp_closing", "read_paused", "relay_peer", "read_relay", "buffer_updated", "_write_out",
        "__weakref__",
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
        #: The sans-I/O protocol: state, close codes, the closing handshake.
        self.protocol = WebSocketConnection(codec)
        #: The connection's codec (the stream relay queues frames on it directly).
        self.codec = codec
        # The loop calls the codec's get_buffer directly (uvloop caches it at set_protocol),
        # and builtins doing `_received`'s work for the usual read and `_flush`'s for the
        # write a tick's sends schedule (`_write_out`; rust/src/python/ws_receive.rs; they
        # hold the connection weakly).
        self.get_buffer = codec.get_buffer
        self.buffer_updated, self._write_out = _RECEIVE.receivers(self) or (self._received, self._flush)
        self.request = request
        self.subprotocol = subprotocol
        self.handler = handler
        self._server = server
        self._loop = server.loop
        self._transport = transport
        self._on_message = handler.on_message
        self._flush_scheduled = False
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._head: bytes | None = None
        self._in_flight = 0
        self._activity = False
        self._idle_since = 0.0
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_sent_at = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        self._lost = False
        self._opened = False
        self._hard_limit = server.settings.write_hard_limit
        self._shutting_down = False
        self._tcp_closing = False
        #: The app asked to stop reading the peer (``pause_reading``).
        self.read_paused = False
        #: A relay's other side (``hold_flush``/``flush_held``): what a read batch here sends
        #: there is written at the end of the batch, with no call_soon per message.
        self.relay_peer = None
        #: With ``relay_peer``: ``read_relay(nbytes)`` parses each read instead of
        #: ``codec.buffer_updated`` (a relay queues data messages on the peer's codec with
        #: ``WsCodec.relay_buffered``) and returns the events left for this connection. Data
        #: messages relayed so are not seen by ``on_message`` nor counted as activity here.
        self.read_relay = None

    def start_after_upgrade(self, head: bytes, leftover: bytes) -> None:
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
        if leftover and self.protocol.state is not CLOSED:
            self._dispatch(self.codec.receive_data(leftover))
        self._flush()
        if not self._lost and not self.read_paused:
            self._transport.resume_reading()

    # -- asyncio callbacks (hot path) ---------------------------------------------------------

    def _received(self, nbytes: int) -> None:
        """`nbytes` were read into the codec's buffer: its events delivered, what they queued
        written (the connection's `buffer_updated` does this natively but for a relay's)."""
        peer = self.relay_peer
        if peer is None:
            events = self.codec.buffer_updated(nbytes)
            if events and self.protocol.state is not CLOSED:
                self._flush_scheduled = True  # sends during the batch wait for the flush below
                self._dispatch(events)
                self._flush()
            return
        # A relay: what the batch sends to the peer is written once, after it (unless a flush
        # of the peer was already scheduled: that one writes it).
        held = peer.hold_flush()
        try:
            relay = self.read_relay
            if relay is None:
                events = self.codec.buffer_updated(nbytes)
            else:
                try:
                    events = relay(nbytes)
                except Exception:  # a bug in the relay: this side fails alone, not the loop
                    relay_failed(self, log)
                    return
            if events and self.protocol.state is not CLOSED:
                self._flush_scheduled = True  # sends during the batch wait for the flush below
                self._dispatch(events)
                self._flush()
        finally:
            if held:
                peer.flush_held()

    def _dispatch(self, events: list) -> None:
        try:
            self.protocol.deliver(events, self._on_message, self)
        except Exception as exc:
            self._dispatch_failed(exc)

    def _dispatch_failed(self, exc: Exception) -> None:
        """`on_message` raised `exc`: logged, the connection closed (the batch's rest dropped)."""
        log.error("on_message failed", exc_info=exc)
        self.close(INTERNAL, "internal error")

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
        if data and self.write_paused and self._check_hard_limit():
            return
        if self.protocol.state is CLOSED and not self._tcp_closing:
            self._tcp_closing = True  # RFC 6455 §7.1.1: the server closes TCP first
            transport.close()
            self._arm_close_timer()

    #: Write what was queued since ``hold_flush``.
    flush_held = _flush

    def pause_writing(self) -> None:
        self.write_paused = True
        self._transport.pause_reading()  # a peer that does not read stops being read

    def resume_writing(self) -> None:
        self.write_paused = False
        if not self._lost and not self._tcp_closing and not self.read_paused:
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
        protocol = self.protocol
        protocol.terminate(ABNORMAL, "connection lost")
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(ConnectionClosed(protocol.close_code, protocol.close_reason))
        self._server.connection_gone(self)
        if self._opened:
            try:
                self.handler.on_close(self, protocol.close_code, protocol.close_reason)
            except Exception:
                log.exception("on_close failed")

    # -- the app's interface ------------------------------------------------------------------

    def send_text(self, data: bytes | str) -> None:
        """Queue a text message (bytes must be UTF-8). Dropped once the connection is closing."""
        if self.protocol.state is OPEN:
            self.codec.send_text(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._write_out)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message. Dropped once the connection is closing."""
        if self.protocol.state is OPEN:
            self.codec.send_binary(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._write_out)

    def send(self, opcode: int, data: bytes | str) -> None:
        """Queue a message with `opcode` 1 (text) or 2 (binary). Dropped once closing."""
        if self.protocol.state is OPEN:
            if opcode == 1:
                self.codec.send_text(data)
            else:
                self.codec.send_binary(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._write_out)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (the codec answers the peer's pings itself). Dropped once closing."""
        if self.protocol.state is OPEN:
            self.protocol.send_ping(data)
            self._schedule_flush()

    def pause_reading(self) -> None:
        """Stop reading from the peer until ``resume_reading`` (its data waits in the kernel,
        then in the peer: TCP pushes back). A frame already partly read stays in the codec and
        continues on resume; messages of the read batch being delivered are still delivered."""
        if self.read_paused or self._lost:
            return
        self.read_paused = True
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the peer again (unless the peer is behind on our output: then reading
        resumes when it drains)."""
        if not self.read_paused:
            return
        self.read_paused = False
        if not self._lost and not self._tcp_closing and not self.write_paused and self._opened:
            self._transport.resume_reading()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake; the connection aborts if the peer does not answer
        within ``close_timeout``. A no-op once closing. Reading resumes if the app had paused
        it: the peer's close frame must be read."""
        if self.protocol.state is not OPEN or self._lost:
            return
        self.resume_reading()
        self.protocol.send_close(code, reason)
        self._schedule_flush()
        self._arm_close_timer()

    def hold_flush(self) -> bool:
        """Defer this connection's sends until ``flush_held`` (a relay's other side is
        delivering a read batch and writes here once at its end). False when a flush is
        already scheduled: that one writes them, ``flush_held`` must not be called."""
        if self._flush_scheduled:
            return False
        self._flush_scheduled = True
        return True


    def flush_soon(self) -> None:
        """Schedule this tick's write after queueing frames on ``codec`` directly (the stream
        relay frames chunks in Rust). Callers check ``closed`` before writing to the codec."""
        if self.protocol.state is OPEN:
            self._schedule_flush()

    @property
    def is_writable(self) -> bool:
        """False while the peer is behind (unsent bytes above the high-water mark) or the
        connection is closing: producers should pause and ``await drained()``."""
        return not self.write_paused and self.protocol.state is OPEN

    async def drained(self) -> None:
        """Return once the connection can take more output; raises ConnectionClosed when it
        is closing or closed."""
        protocol = self.protocol
        if protocol.state is not OPEN:
            raise ConnectionClosed(protocol.close_code or ABNORMAL, protocol.close_reason)
        if self.write_paused:
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
        return self.protocol.state is not OPEN

    @property
    def state(self) -> State:
        """The protocol state: OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def close_code(self) -> int | None:
        """How the connection ended: the peer's close code, else ours, else 1006; None while open."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with ``close_code``."""
        return self.protocol.close_reason

    # -- internals ----------------------------------------------------------------------------

    def _check_hard_limit(self) -> bool:
        """After a write that paused writing: abort when the unsent bytes pass the hard limit
        (the peer is not reading; True then)."""
        if self._transport.get_write_buffer_size() > self._hard_limit:
            self._abort(POLICY, "send buffer limit exceeded: the peer is not reading")
            return True
        return False

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._write_out)

    def _abort(self, code: int, reason: str) -> None:
        self.protocol.terminate(code, reason)
        self._tcp_closing = True
        self._transport.abort()

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            self._close_timer = self._loop.call_later(self._server.settings.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        if not self._lost:
            self._abort(ABNORMAL, "close handshake timed out")

    def _send_keepalive_ping(self) -> None:
        self._ping_timer = None
        if self.protocol.state is not OPEN or self._lost:
            return
        self.protocol.send_ping(b"aigw")
        self._schedule_flush()
        self._ping_sent_at = self._loop.time()
        settings = self._server.settings
        wait = settings.ping_timeout if settings.ping_timeout else settings.ping_interval
        self._ping_timer = self._loop.call_later(wait, self._check_pong)

    def _check_pong(self) -> None:
        self._ping_timer = None
        if self.protocol.state is not OPEN or self._lost:
            return
        settings = self._server.settings
        if self.protocol.ping_outstanding and settings.ping_timeout:
            self.close(INTERNAL, "keepalive ping timeout")
            return
        delay = max(0.0, self._ping_sent_at + settings.ping_interval - self._loop.time())
        self._ping_timer = self._loop.call_later(delay, self._send_keepalive_ping)

    def _check_idle(self) -> None:
        self._idle_timer = None
        protocol = self.protocol
        if protocol.state is not OPEN or self._lost:
            return
        timeout = self._server.settings.idle_timeout
        now = self._loop.time()
        if self._activity or protocol.data_seen or self._in_flight:
            self._activity = protocol.data_seen = False
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
        return self._in_flight == 0 or self.protocol.state is not OPEN


#: Every WebSocket's `buffer_updated` is made by this (see `__init__`).
_RECEIVE = _codec.WsReceive((WebSocket, WebSocketConnection), OPEN, CLOSED)
