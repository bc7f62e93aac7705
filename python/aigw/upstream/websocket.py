"""A WebSocket client towards providers' realtime APIs, on the Rust codec in its client role.

    ws = await connect_websocket("wss://api.openai.com/v1/realtime?model=gpt-realtime",
                                 headers=[("authorization", "Bearer sk-...")],
                                 ssl_context=client.ssl_context)
    ws.start(on_message=..., on_close=...)      # reading starts here: nothing is lost before
    ws.send_text(b'{"type":"response.create"}')
    ws.close(1000)

Two asyncio protocols share one transport, as on the server side: ``_Handshake`` writes the
upgrade GET and reads the answer's head (``_codec.parse_response_head``); on a valid 101 it
hands the transport to an ``UpstreamWebSocket`` with ``set_protocol``, whose ``get_buffer`` *is*
the codec's (``WsCodec(client=True)``: masking, permessage-deflate client side, UTF-8 checks,
the message size limit). The meaning of the closing handshake is the sans-I/O
``WebSocketConnection`` (aigw.protocol.websocket) that the server uses too; the bytes of the
opening handshake are ``aigw.protocol.client_handshake``.

An answer other than 101 raises ``HandshakeRejected`` with its status, headers and body (read
whole, up to a bound), so a gateway can give its client the provider's own 401/404/429.

Rules this module keeps:
- One transport write per loop tick: sends queue in the codec and one ``_flush`` writes them.
- Flow control both ways: ``is_writable`` / ``await drained()`` follow the transport's write
  buffer; ``pause_reading()`` / ``resume_reading()`` let the other side of a relay stop this
  one (a client that stops reading stops the provider being read). Unsent bytes past
  ``write_hard_limit`` abort the connection (reported as 1008): memory stays bounded.
- Ping/pong are per hop: the codec answers the provider's pings; our own keepalive pings
  (``ping_interval``) close with 1011 when no pong comes back within ``ping_timeout``.
- ``on_close(code, reason)`` is called exactly once, when the TCP connection is gone; code
  1006 when it dropped without a close frame. ``closed_by`` says who started the close.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import urlsplit

from aigw import _codec
from aigw.protocol.client_handshake import InvalidHandshake, check_accept, new_key, upgrade_request
from aigw.protocol.relay_read import relay_failed
from aigw.protocol.websocket import CLOSED, OPEN, WebSocketConnection
from aigw.upstream.errors import ConnectTimeout, UpstreamConnectError, UpstreamError, UpstreamProtocolError, UpstreamTimeout

log = logging.getLogger("aigw.upstream")

__all__ = [
    "HandshakeRejected",
    "HandshakeTimeout",
    "UpstreamWebSocket",
    "connect_websocket",
    "split_ws_url",
]

ABNORMAL = 1006
POLICY = 1008
INTERNAL = 1011

MAX_HEAD = 65536
MAX_ERROR_BODY = 65536


class HandshakeRejected(UpstreamError):
    """The server answered the upgrade with a status other than 101 (a provider's 401, 404,
    429...). `headers` are (lowercase name, value) pairs; `body` is at most MAX_ERROR_BODY
    bytes of the answer's body."""

    def __init__(self, status: int, reason: str, headers: list[tuple[str, str]], body: bytes) -> None:
        super().__init__(f"upstream answered the WebSocket upgrade with {status} {reason}".rstrip())
        self.status = status
        self.headers = headers
        self.body = body


class HandshakeTimeout(UpstreamTimeout):
    """No complete answer to the upgrade request within the handshake timeout."""


def split_ws_url(url: str) -> tuple[bool, str, int, str, str]:
    """(tls, host, port, Host header value, request target) of a ws/wss (or http/https) URL.
    Raises ValueError for another scheme or a URL without a host."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "http", "https"):
        raise ValueError(f"not a WebSocket URL: scheme {parts.scheme!r}")
    tls = scheme in ("wss", "https")
    host = parts.hostname
    if not host:
        raise ValueError("the WebSocket URL has no host")
    port = parts.port or (443 if tls else 80)
    name = f"[{host}]" if ":" in host else host
    authority = name if port == (443 if tls else 80) else f"{name}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return tls, host, port, authority, target


class _Handshake(asyncio.BufferedProtocol):
    """The connection until the 101: writes the GET, reads the head (and an error body)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, request: bytes) -> None:
        self.loop = loop
        self.request = request
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future = loop.create_future()
        self.connected: asyncio.Future = loop.create_future()
        self._scratch = bytearray(16384)
        self._data = bytearray()
        self._head: tuple[int, str, list[tuple[bytes, bytes]]] | None = None
        self._body_left: int | None = None  # error body: bytes still expected (None: until EOF)
        self._chunked: _codec.ChunkedDecoder | None = None
        self._body = bytearray()
        self.leftover = b""
        self.lost = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.write(self.request)
        if not self.connected.done():
            self.connected.set_result(None)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._scratch)

    def buffer_updated(self, nbytes: int) -> None:
        if not self.done.done():
            self._feed(bytes(self._scratch[:nbytes]))

    def _feed(self, chunk: bytes) -> None:
        if self._head is None:
            self._data += chunk
            try:
                parsed = _codec.parse_response_head(self._data, MAX_HEAD)
            except _codec.HttpParseError as e:
                self._finish(UpstreamProtocolError(f"bad answer to the WebSocket upgrade: {e.args[-1]}"))
                return
            if parsed is None:
                return
            status, reason, _, headers, consumed = parsed
            rest = bytes(self._data[consumed:])
            self._data = bytearray()
            if status == 101:
                self._head = (status, reason, headers)
                self.leftover = rest
                self.transport.pause_reading()  # until the owner starts the WebSocket
                self._finish(None)
                return
            if 100 <= status < 200:  # an interim answer: the real one follows
                if rest:
                    self._feed(rest)
                return
            self._head = (status, reason, headers)
            self._start_error_body(headers)
            chunk = rest
        self._error_body(chunk)

    def _start_error_body(self, headers: list[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name == b"transfer-encoding" and b"chunked" in value.lower():
                self._chunked = _codec.ChunkedDecoder()
            elif name == b"content-length" and value.strip().isdigit():
                self._body_left = int(value)

    def _error_body(self, chunk: bytes) -> None:
        if self._chunked is not None:
            try:
                self._body += self._chunked.feed(chunk)
            except ValueError:
                self._reject()
                return
            if self._chunked.done:
                self._reject()
                return
        elif self._body_left is not None:
            take = chunk[: self._body_left]
            self._body += take
            self._body_left -= len(take)
            if self._body_left <= 0:
                self._reject()
                return
        else:
            self._body += chunk
        if len(self._body) >= MAX_ERROR_BODY:
            self._reject()

    def _reject(self) -> None:
        status, reason, headers = self._head  # type: ignore[misc]
        pairs = [(n.decode("latin-1"), v.decode("latin-1")) for n, v in headers]
        self._finish(HandshakeRejected(status, reason, pairs, bytes(self._body[:MAX_ERROR_BODY])))
        if self.transport is not None:
            self.transport.close()

    def _finish(self, error: BaseException | None) -> None:
        if self.done.done():
            return
        if error is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(error)
            if self.transport is not None and not isinstance(error, HandshakeRejected):
                self.transport.abort()

    def eof_received(self) -> bool:
        if self._head is not None and self._head[0] != 101:
            self._reject()  # a body delimited by the end of the connection
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._head is not None and self._head[0] != 101 and not self.done.done():
            self._reject()
        self._finish(UpstreamConnectError("the connection closed during the WebSocket handshake"))
        if not self.connected.done():
            self.connected.set_exception(UpstreamConnectError("connection lost"))


async def connect_websocket(
    url: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    ssl_context: ssl.SSLContext | None = None,
    connect_timeout: float = 10.0,
    handshake_timeout: float = 10.0,
    deflate: bool = False,
    max_message_size: int = 16 * 1024 * 1024,
    read_buffer_size: int = 64 * 1024,
    close_timeout: float = 5.0,
    ping_interval: float | None = None,
    ping_timeout: float | None = 20.0,
    write_high_water: int = 1024 * 1024,
    write_low_water: int = 256 * 1024,
    write_hard_limit: int = 16 * 1024 * 1024,
) -> UpstreamWebSocket:
    """Open a WebSocket to `url` (ws:// or wss://, TLS verified with `ssl_context`, default:
    the system's verifying context) offering `subprotocols` (and permessage-deflate when
    `deflate`), with `headers` added to the upgrade request.

    Returns an UpstreamWebSocket whose reading starts at ``start()``. Raises ConnectTimeout
    (TCP + TLS not done within `connect_timeout`), UpstreamConnectError (refused, reset,
    certificate), HandshakeTimeout (no answer within `handshake_timeout`), HandshakeRejected
    (an answer other than 101, with its body), UpstreamProtocolError (a malformed answer or a
    101 that fails the RFC 6455 checks). ValueError for a bad URL or header."""
    tls, host, port, authority, target = split_ws_url(url)
    key = new_key()
    request = upgrade_request(authority, target, key, headers=headers, subprotocols=subprotocols, deflate=deflate)
    loop = asyncio.get_running_loop()
    hs = _Handshake(loop, request)
    context = None
    if tls:
        context = ssl_context if ssl_context is not None else ssl.create_default_context()
    try:
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(lambda: hs, host, port, ssl=context, server_hostname=host if tls else None)
    except TimeoutError:
        raise ConnectTimeout(f"no connection to {host}:{port} within {connect_timeout:g} s") from None
    except (OSError, ssl.SSLError) as e:
        raise UpstreamConnectError(f"cannot connect to {host}:{port}: {e.__class__.__name__}: {e}") from None
    transport = hs.transport
    assert transport is not None
    try:
        async with asyncio.timeout(handshake_timeout):
            await hs.done
    except TimeoutError:
        transport.abort()
        raise HandshakeTimeout(f"no answer to the WebSocket upgrade from {host}:{port} within {handshake_timeout:g} s") from None
    except BaseException:
        transport.abort()
        raise
    if hs.lost:  # the server hung up right after its 101
        raise UpstreamConnectError(f"{host}:{port} closed the connection right after the WebSocket handshake")
    status, _, head = hs._head  # type: ignore[misc]
    try:
        subprotocol, params = check_accept(head, key, subprotocols=subprotocols, deflate=deflate)
    except InvalidHandshake as e:
        transport.abort()
        raise UpstreamProtocolError(f"invalid WebSocket handshake from {host}:{port}: {e}") from None
    codec = _codec.WsCodec(client=True, max_message_size=max_message_size, deflate=params, read_buffer_size=read_buffer_size)
    ws = UpstreamWebSocket(
        loop, transport, codec, subprotocol, [(n.decode("latin-1"), v.decode("latin-1")) for n, v in head],
        close_timeout=close_timeout, ping_interval=ping_interval, ping_timeout=ping_timeout,
        write_hard_limit=write_hard_limit,
    )
    transport.set_write_buffer_limits(high=write_high_water, low=write_low_water)
    transport.set_protocol(ws)
    ws._leftover = hs.leftover
    return ws


def _ignore_message(opcode: int, payload: bytes) -> None:
    return None


def _call_plain(on_message: Callable[[int, bytes], None], opcode: int, payload: bytes) -> None:
    on_message(opcode, payload)


def _ignore_close(code: int, reason: str) -> None:
    return None


class UpstreamWebSocket(asyncio.BufferedProtocol):
    """An open client-side WebSocket (see the module docstring). Build with connect_websocket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport,
        codec: _codec.WsCodec,
        subprotocol: str | None,
        response_headers: list[tuple[str, str]],
        *,
        close_timeout: float,
        ping_interval: float | None,
        ping_timeout: float | None,
        write_hard_limit: int,
    ) -> None:
        self.conn = WebSocketConnection(codec)
        self.codec = codec
        self.get_buffer = codec.get_buffer  # the loop reads straight into the codec
        self.subprotocol = subprotocol
        self.response_headers = response_headers
        #: "gateway" (we sent the first close frame), "upstream" (the peer did) or "network".
        self.closed_by: str | None = None
        self._loop = loop
        self._transport = transport
        # What the protocol's deliver loop calls per data message: fn(target, opcode, payload).
        self._deliver_fn: Callable[..., None] = _call_plain
        self._deliver_target: object = _ignore_message
        self._on_close: Callable[[int, str], None] = _ignore_close
        self._leftover = b""
        self._started = False
        self._lost = False
        self._flush_scheduled = False
        #: The upstream is behind (its write buffer passed the high-water mark).
        self.write_paused = False
        self._read_paused = True  # until start()
        self._drain_waiters: list[asyncio.Future] = []
        self._close_timeout = close_timeout
        self._close_timer: asyncio.TimerHandle | None = None
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._ping_timer: asyncio.TimerHandle | None = None
        self._hard_limit = write_hard_limit
        self._closed_event = asyncio.Event()
        #: A relay's other side (``hold_flush``/``flush_held``): what a read batch here sends
        #: there is written at the end of the batch, with no call_soon per message.
        self.relay_peer = None
        #: With ``relay_peer``: ``read_relay(nbytes)`` parses each read instead of
        #: ``codec.buffer_updated`` (a relay queues data messages on the peer's codec with
        #: ``WsCodec.relay_buffered``) and returns the events left for this connection.
        self.read_relay: Callable[[int], list] | None = None

    # -- the owner's interface ----------------------------------------------------------------

    def start(
        self,
        on_message: Callable[..., None],
        on_close: Callable[[int, str], None],
        *,
        target: object = None,
    ) -> None:
        """Install the callbacks and start reading: ``on_message(opcode, payload)`` per data
        message (1 text, 2 binary), or ``on_message(target, opcode, payload)`` when `target`
        is given (an unbound method and its object: one call per message, no closure);
        ``on_close(code, reason)`` once when the connection is gone."""
        if self._started:
            raise RuntimeError("start() was already called")
        self._started = True
        if target is None:
            self._deliver_fn, self._deliver_target = _call_plain, on_message
        else:
            self._deliver_fn, self._deliver_target = on_message, target
        self._on_close = on_close
        if self._lost:  # the server hung up between the 101 and start()
            self._report_close()
            return
        leftover, self._leftover = self._leftover, b""
        if leftover and self.conn.state is not CLOSED:
            self._handle(self.codec.receive_data(leftover))
        if self._ping_interval:
            self._ping_timer = self._loop.call_later(self._ping_interval, self._send_keepalive_ping)
        self._flush()
        if not self._lost and self.conn.state is OPEN:
            self.resume_reading()

    @property
    def state(self):
        """OPEN, CLOSING or CLOSED (aigw.protocol.websocket.State)."""
        return self.conn.state

    @property
    def close_code(self) -> int | None:
        """The peer's close code when it sent one, else ours, else None while open."""
        return self.conn.close_code

    @property
    def close_reason(self) -> str:
        """The reason that goes with close_code."""
        return self.conn.close_reason

    @property
    def open(self) -> bool:
        """True while messages sent are queued (OPEN, the connection not lost)."""
        return self.conn.state is OPEN and not self._lost

    @property
    def is_writable(self) -> bool:
        """False while the upstream is behind (write buffer above its high-water mark) or the
        connection is closing."""
        return not self.write_paused and self.conn.state is OPEN and not self._lost

    @property
    def buffered_amount(self) -> int:
        """Bytes queued and not yet handed to the kernel."""
        if self._lost:
            return 0
        return self.codec.output_size + self._transport.get_write_buffer_size()

    async def drained(self) -> None:
        """Return once the upstream can take more; raises ConnectionError once it is closed."""
        if self._lost or self.conn.state is not OPEN:
            raise ConnectionError("the upstream WebSocket is closed")
        if self.write_paused:
            fut = self._loop.create_future()
            self._drain_waiters.append(fut)
            await fut

    async def wait_closed(self) -> None:
        """Return once the TCP connection is gone (on_close has been called)."""
        await self._closed_event.wait()

    def send_text(self, data: bytes | str) -> None:
        """Queue a text message (bytes must be UTF-8). Dropped once the connection is closing."""
        if self.conn.state is OPEN and not self._lost:
            self.codec.send_text(data)
            self._schedule_flush()

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue a binary message. Dropped once the connection is closing."""
        if self.conn.state is OPEN and not self._lost:
            self.codec.send_binary(data)
            self._schedule_flush()

    def send(self, opcode: int, data: bytes | str) -> None:
        """Queue a message with `opcode` 1 (text) or 2 (binary). Dropped once closing."""
        if self.conn.state is OPEN and not self._lost:
            if opcode == 1:
                self.codec.send_text(data)
            else:
                self.codec.send_binary(data)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._loop.call_soon(self._flush)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (answered pongs clear the keepalive check)."""
        if self.conn.state is OPEN and not self._lost:
            self.codec.send_ping(data)
            self._schedule_flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (code 1005 sends an empty close body); the connection
        is aborted if the server does not finish it within close_timeout. A no-op once
        closing. An invalid code or a reason over 123 bytes raises ValueError."""
        if self.conn.state is not OPEN or self._lost:
            return
        if self.closed_by is None:
            self.closed_by = "gateway"
        self.conn.send_close(None if code == 1005 else code, reason if code != 1005 else "")
        self.resume_reading()  # the server's close frame must be read even if we were paused
        self._schedule_flush()
        self._arm_close_timer()

    def abort(self, code: int = ABNORMAL, reason: str = "aborted") -> None:
        """Drop the TCP connection now (no closing handshake)."""
        if self._lost:
            return
        if self.conn.close_code is None:
            self.conn.close_code, self.conn.close_reason = code, reason
        self.conn.state = CLOSED
        self._transport.abort()

    def hold_flush(self) -> bool:
        """Defer this connection's sends until ``flush_held`` (a relay's other side is
        delivering a read batch and writes here once at its end). False when a flush is
        already scheduled: that one writes them, ``flush_held`` must not be called."""
        if self._flush_scheduled:
            return False
        self._flush_scheduled = True
        return True

    def pause_reading(self) -> None:
        """Stop reading from the upstream (the relay's other side is behind)."""
        if not self._read_paused and not self._lost:
            self._read_paused = True
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        """Read from the upstream again."""
        if self._read_paused and not self._lost and self._started:
            self._read_paused = False
            self._transport.resume_reading()

    # -- asyncio callbacks --------------------------------------------------------------------

    def buffer_updated(self, nbytes: int) -> None:
        if self.conn.state is CLOSED:
            return  # input after the closing handshake is ignored
        peer = self.relay_peer
        if peer is None:
            events = self.codec.buffer_updated(nbytes)
            if events:
                self._flush_scheduled = True  # sends made while dispatching go out in one write
                self._handle(events)
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
            if events:
                self._flush_scheduled = True  # sends made while dispatching go out in one write
                try:
                    self._handle(events)
                finally:
                    self._flush()
        finally:
            if held:
                peer.flush_held()

    def _handle(self, events: list) -> None:
        # The protocol applies control events (pongs, the closing handshake) and hands each
        # data message straight to the owner's callback.
        conn = self.conn
        conn.deliver(events, self._deliver_fn, self._deliver_target)
        if conn.state is CLOSED and self.closed_by is None:
            # The peer's close frame, or a violation the codec failed the connection for.
            self.closed_by = "upstream" if conn.close_received is not None else "gateway"

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        for timer in (self._close_timer, self._ping_timer):
            if timer is not None:
                timer.cancel()
        conn = self.conn
        if conn.state is not CLOSED:  # no close frame came back: the connection dropped
            conn.close_code, conn.close_reason = ABNORMAL, "connection lost"
            if self.closed_by is None:
                self.closed_by = "network"
        conn.state = CLOSED
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(ConnectionError("the upstream WebSocket is closed"))
        if self._started:
            self._report_close()

    def _report_close(self) -> None:
        self._closed_event.set()
        try:
            self._on_close(self.conn.close_code or ABNORMAL, self.conn.close_reason)
        finally:
            self._on_close = _ignore_close

    # -- internals ----------------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._lost:
            return
        data = self.codec.data_to_send()
        transport = self._transport
        if data:
            transport.write(data)
            if self.write_paused and transport.get_write_buffer_size() > self._hard_limit:
                self.abort(POLICY, "send buffer limit exceeded: the upstream is not reading")
                return
        if self.conn.state is CLOSED:
            # Both close frames have been exchanged (or the codec failed the connection): the
            # server closes TCP first (RFC 6455 §7.1.1); we close our side after our last frame.
            transport.close()
            self._arm_close_timer()

    #: Write what was queued since ``hold_flush``.
    flush_held = _flush

    def _arm_close_timer(self) -> None:
        if self._close_timer is None and not self._lost:
            self._close_timer = self._loop.call_later(self._close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        if not self._lost:
            self.abort(self.conn.close_code or ABNORMAL, self.conn.close_reason or "close handshake timed out")

    def _send_keepalive_ping(self) -> None:
        self._ping_timer = None
        if self.conn.state is not OPEN or self._lost:
            return
        self.codec.send_ping(b"aigw")
        self._schedule_flush()
        self.conn.ping_outstanding = True  # any pong clears it (WebSocketConnection.handle_control)
        self._ping_timer = self._loop.call_later(self._ping_timeout or self._ping_interval, self._check_pong)

    def _check_pong(self) -> None:
        self._ping_timer = None
        if self.conn.state is not OPEN or self._lost:
            return
        if self.conn.ping_outstanding and self._ping_timeout:
            self.close(INTERNAL, "keepalive ping timeout")
            return
        wait = max(0.0, (self._ping_interval or 0.0) - (self._ping_timeout or 0.0))
        self._ping_timer = self._loop.call_later(wait, self._send_keepalive_ping)
