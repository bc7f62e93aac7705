"""The HTTP/1.1 phase of a client connection: an asyncio BufferedProtocol that reads requests,
runs the app for each, writes its responses, and hands the transport to a ``WebSocket`` on an
accepted upgrade (``aigw.server.websocket``).

Rules this module keeps:
- One request at a time (keep-alive; pipelined requests wait in the reader, bounded).
- The usual request runs without an asyncio Task (``HttpDrive``, rust/src/python/http_drive.rs):
  the native door's answer stepped natively from the loop's callbacks, the connection left idle
  after it with no task waiting. Anything else (an upgrade, an app's awaitable, an answer that
  needs Python's coroutine) is handed to a Task running ``_serve`` from where the drive stopped;
  that Task ends once the connection is idle again. With ``DRIVE`` off, or on a loop with a task
  factory, one task per connection answers its requests in turn (``_serve``), made with the
  first request and waiting for the next between them.
- The connection keeps reading while a request is handled, so a client that goes away is
  noticed at once: the connection's task is cancelled (whatever the request awaits, such as
  an upstream request, is released) and its ``ResponseWriter`` raises ``ConnectionClosed``.
- Timers: an idle keep-alive connection closes after ``http_keepalive_timeout``, which also
  bounds a request head; a request's head and body must arrive within
  ``request_read_timeout`` of its first byte (408), however slowly they trickle in.
- Responses go out through one queue flushed once per loop tick; flow control and the hard
  limit are the ``ResponseWriter``'s (``aigw.server.http_response``).
- Request bodies are read whole before the app runs, or streamed to it (``RequestBody``) for
  an app with ``streams_request_bodies``; reading pauses while the app has not taken what came.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
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
    END_OF_MESSAGE,
    READER_PARTS,
    Headers,
    HttpError,
    HttpResponse,
    Request,
    RequestReader,
    error_response,
)
from aigw.server.app import ConnectionClosed, ServerSettings, StreamedResponse
from aigw.server.http_response import ENDED, ResponseWriter, _writer_slots, response_writer, send_response
from aigw.server.websocket import WebSocket

if TYPE_CHECKING:
    from aigw.server.listener import Server

__all__ = ["HttpConnection", "RequestBody"]

log = logging.getLogger("aigw.server")

ABNORMAL = 1006
#: Above this many queued bytes of a streamed request body, reading pauses until the app takes them.
BODY_QUEUE_LIMIT = 256 * 1024
#: Writes with more bytes than this go out as a vector (writelines) instead of one joined copy.
JOIN_LIMIT = 64 * 1024
#: A reused idle timer that fires this close to its deadline counts as on time.
_TIMER_SLACK = 0.001
#: Whether the usual request runs without an asyncio Task (see the module docstring); read when
#: a connection is made.
DRIVE = True


class HttpConnection(asyncio.BufferedProtocol):
    """One client connection while it speaks HTTP/1.1 (see the module docstring). It is the
    ``ResponseChannel`` its ``ResponseWriter`` writes through."""

    __slots__ = (
        "_server", "_loop", "_transport", "_reader", "_busy", "lost", "_closing", "_idle_timer", "_deadline",
        "_idle_at", "_task", "_next", "_writer", "_body", "_streams", "write_paused", "_drain_waiters", "_out", "_out_size",
        "_flush_scheduled", "_read_paused", "hard_limit", "_close_timer", "get_buffer", "buffer_updated", "_drives",
        "__weakref__",
    )

    def __init__(self, server: Server) -> None:
        self._server = server
        self._loop = server.loop
        self._transport: asyncio.Transport | None = None
        self._reader: RequestReader | None = None
        self._busy = False  # a request is being handled
        self.lost = False
        self._closing = False
        self._idle_timer: asyncio.TimerHandle | None = None
        self._idle_at: float | None = None  # when an idle connection closes (None: not idle)
        self._deadline: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None
        #: The request being answered: its HttpDrive, or the Task running `_serve` (without
        #: drives: from the first request on).
        self._task: asyncio.Task | None = None
        self._next: asyncio.Future | None = None  # what _serve awaits between requests (no drives)
        # Each usual request driven without a Task; a loop's task factory is honoured.
        self._drives = DRIVE and self._loop is not None and self._loop.get_task_factory() is None
        self._writer: ResponseWriter | None = None
        self._body: RequestBody | None = None  # the streamed body still arriving
        self._streams = bool(getattr(server.app, "streams_request_bodies", False))
        self.write_paused = False
        self._drain_waiters: list[asyncio.Future] = []
        self._out: list[bytes] = []
        self._out_size = 0
        self._flush_scheduled = False
        self._read_paused = False
        self.hard_limit = server.settings.write_hard_limit
        # The loop reads into the server's scratch buffer (`get_buffer(hint)` returns it) and
        # calls `buffer_updated(n)`, which appends the n bytes to the reader and, for the usual
        # request (the connection between requests, the request all here), takes it and hands
        # it to the connection's task as `_process` would; anything else is `_process`'s.
        # Native builtins held here (uvloop looks both up once, at set_protocol), which hold
        # the connection weakly: rust/src/python/http_receive.rs.
        self.get_buffer, self.buffer_updated = _RECEIVE.receivers(self, server.scratch)

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
        self._arm_idle_timer()

    def eof_received(self) -> bool:
        return False  # the transport closes itself: a client that half-closes has gone

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._cancel_timers()
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_exception(ConnectionClosed(ABNORMAL, "client disconnected"))
        if self._body is not None:
            self._body.fail(ConnectionClosed(ABNORMAL, "client disconnected"))
        if self._task is not None and not self._task.done():
            self._task.cancel()  # the client is gone: release whatever the request holds
        self._server.connection_gone(self)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # -- reading requests ---------------------------------------------------------------------

    def _process(self) -> None:
        """Take what the reader has: body bytes for the app, or the next request's head."""
        if self._closing or self.lost:
            return
        reader = self._reader
        try:
            if self._body is not None:
                self._pump_body()
                return
            if self._busy:
                if reader.buffered > self._server.settings.max_head_size:
                    self._pause_reading()  # pipelined bytes wait for the current response
                return
            # The request deadline runs from the first byte of a request that did not arrive
            # whole: a request read in one go (the usual case) pays no timer.
            if self._streams:
                request = reader.next_event()
            else:
                request = reader.next_request()
                if request is None:
                    if reader.buffered or reader.in_body:
                        self._arm_deadline()
                    if reader.in_body:  # the head is in: from now on only the deadline applies
                        self._cancel_idle_timer()
                        if reader.take_continue():
                            self._transport.write(CONTINUE)
                    return
        except HttpError as e:
            self._refuse(e)
            return
        if request is None:
            if reader.buffered or reader.in_body:
                self._arm_deadline()
            return
        self._idle_at = None  # _cancel_idle_timer(), inline
        self._busy = True
        if self._streams:
            if not reader.has_body:
                reader.next_event()  # END_OF_MESSAGE
                self._cancel_deadline()
            else:
                self._arm_deadline()  # the body is still to come
                self._body = RequestBody(self)
                request.attach_body(self._body)
                try:
                    self._pump_body()
                except HttpError as e:
                    self._refuse(e)
                    return
        elif self._deadline is not None:  # _cancel_deadline()'s test, inline
            self._cancel_deadline()
        waiter = self._next
        if waiter is not None:  # the connection's task waits for this request
            self._next = None
            waiter.set_result(request)
        else:
            self._task = self._loop.create_task(self._serve(request))

    def _pump_body(self) -> None:
        """Move streamed body bytes from the reader to the app's ``RequestBody``."""
        body = self._body
        reader = self._reader
        while (event := reader.next_event()) is not None:
            if event is END_OF_MESSAGE:
                self._body = None
                self._cancel_deadline()
                body.finish()
                if reader.buffered > self._server.settings.max_head_size:
                    self._pause_reading()
                return
            body.push(event)
        if body.queued > BODY_QUEUE_LIMIT:
            self._pause_reading()

    def body_taken(self) -> None:
        """The app took queued body bytes: read again once they are (mostly) gone."""
        body = self._body
        if self._read_paused and body is not None and body.queued <= BODY_QUEUE_LIMIT // 2:
            self._resume_reading()

    def body_wanted(self) -> None:
        """The app asked for the body: answer ``Expect: 100-continue`` unless the response
        already started (RFC 9110 §10.1.1)."""
        writer = self._writer
        if self._reader.take_continue() and not self.lost and (writer is None or not writer.started):
            self._transport.write(CONTINUE)

    def _pause_reading(self) -> None:
        if not self._read_paused and not self.lost:
            self._read_paused = True
            self._transport.pause_reading()

    def _resume_reading(self) -> None:
        if self._read_paused and not self.lost and not self._closing:
            self._read_paused = False
            self._transport.resume_reading()

    def _refuse(self, error: HttpError) -> None:
        """The server answers the request itself (bad request, 408, 413 ...) and closes; a
        request task still running is cancelled, a response already started is aborted."""
        self._closing = True
        self._cancel_timers()
        if self.lost:
            if self._task is not None and not self._task.done():
                self._task.cancel()
            return
        writer = self._writer
        if self._body is not None:
            self._body.fail(error)
        if writer is not None and writer.started:
            self.end_abnormally()
        else:
            self._out.clear()
            self._transport.write(error_response(error.status, error.message, error.headers))
            self._transport.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()

    # -- answering ----------------------------------------------------------------------------

    async def _serve(
        self, request: Request, writer: ResponseWriter | None = None, pending: object = None, result: object = None
    ) -> None:
        """Answer `request`, then every next one the connection brings (`_process` hands each
        over through `_next`), until the connection cannot carry another: an upgrade, a
        response that did not complete, a body left unread, shutdown; with drives, until the
        connection is idle again. Cancelled when the client goes (or the server refuses what
        it sent), whether answering or waiting.

        A drive that began the request hands it over with its `writer` and what it waits for
        next, `pending`: app.http's awaitable (`result` None), or the rest of `result`'s
        producer."""
        while True:
            try:
                if writer is None:
                    # The writer of a request with no Upgrade field, made natively (`_begin`);
                    # is_websocket_upgrade (a Python call) asked only of a request with one.
                    writer = _begin(self, request)
                    if writer is None:
                        if _codec.has_field(request.headers.raw, b"upgrade") is not False and is_websocket_upgrade(request):
                            await self._upgrade(request)
                            return
                        writer = self._writer = response_writer(self, request.method, request.http_version, request.keep_alive and not self._server.shutting_down)
                # The app's answer, awaited in this frame (no coroutine level of its own that
                # every resumption of the request would pass through); its failures and an
                # answer left unfinished are handled by `_answer_failed` / `_answer_unfinished`.
                try:
                    if pending is not None and result is not None:
                        await pending  # the rest of `result`'s producer, handed over by a drive
                    else:
                        # An app may answer at once with a StreamedResponse (the gateway's native
                        # door does for its usual request): no awaitable to make and await. A
                        # drive hands over app.http's awaitable as `pending`.
                        result = self._server.app.http(request) if pending is None else pending
                        if result.__class__ is not StreamedResponse:
                            result = await result
                        if isinstance(result, StreamedResponse):
                            await result.produce(writer)
                        else:
                            await send_response(writer, result)
                except Exception as exc:
                    self._answer_failed(request, writer, exc)
                else:
                    if not writer.finished and not self.lost and not self._closing:
                        self._answer_unfinished(request, writer, result)
            except Exception as exc:
                self._failed_answering(request, exc)
                return
            # The usual step to the next request (a completed response, nothing buffered),
            # natively (`_between`: with drives, True); the rest of the cases here.
            waiter = _between(self, writer)
            if waiter is None:
                waiter = self._after_answer(writer)
                if waiter is None:
                    return
            elif waiter is True:
                return  # the connection is idle; its next request starts a drive
            request = await waiter
            writer = pending = None

    def _answered_driven(
        self, request: Request, writer: ResponseWriter, result: object, exc: Exception | None
    ) -> None:
        """`_serve`'s step after the app's answer, for a request a drive answered and could not
        leave idle natively: `exc` the app's (or its producer's) failure, None when the answer
        returned."""
        try:
            if exc is not None:
                self._answer_failed(request, writer, exc)
            elif not writer.finished and not self.lost and not self._closing:
                self._answer_unfinished(request, writer, result)
        except Exception as e:
            self._failed_answering(request, e)
            return
        if _between(self, writer) is None:
            self._after_answer(writer)

    def _failed_answering(self, request: Request, exc: Exception) -> None:
        """A bug while answering `request` (not the app's: `_answer_failed` takes those): logged,
        the connection aborted."""
        log.error("connection failed while answering %r", request, exc_info=exc)
        if not self.lost:
            self._transport.abort()

    def _after_answer(self, writer: ResponseWriter) -> asyncio.Future | None:
        """The step after an answer that `_between` did not take: the connection closed when it
        cannot carry another request, else idle again (and a pipelined request taken). Returns
        the future the connection's task awaits for the next request; None when the connection
        is done, or (with drives) when its next request starts on its own."""
        if self._closing or self.lost:
            return None
        if not writer.completed or self._body is not None or self._server.shutting_down:
            self._closing = True  # an unfinished or unread body cannot be followed by another request
            if writer.finished:
                self._transport.close()
            return None
        self._busy = False
        self._writer = None
        if self._read_paused:  # _resume_reading()'s test, inline
            self._resume_reading()
        self._arm_idle_timer()
        waiter = None
        if not self._drives:
            waiter = self._next = self._loop.create_future()
        if self._reader.pending:  # pipelined bytes came during the answer; usually none
            self._process()  # a whole request there is handed over at once
        return waiter

    def _answer_failed(self, request: Request, writer: ResponseWriter, exc: Exception) -> None:
        """The app's ``http`` (or a StreamedResponse's producer) raised `exc`: a client gone,
        an HTTP error the app re-raised (e.g. 413 from a streamed body), or a bug (a 500 when
        nothing was sent yet, else the response is aborted)."""
        if isinstance(exc, ConnectionClosed):
            if not self.lost:
                writer.abort()
            return
        if isinstance(exc, HttpError):
            if not writer.started:
                self._refuse(exc)
            else:
                writer.abort()
            return
        log.error("app.http failed for %r", request, exc_info=exc)
        if self.lost or self._closing:
            return
        if not writer.started:
            writer.close_after()
            writer.send_whole(500, [("content-type", "text/plain")], b"internal server error\n")
        else:
            writer.abort()

    def _answer_unfinished(self, request: Request, writer: ResponseWriter, result: object) -> None:
        """The app returned without finishing its response: ended for it after a start, a
        500 when it never started one."""
        if writer.started:
            writer.end()
        else:
            log.error("app.http for %r returned %r and never started a response", request, result)
            writer.close_after()
            writer.send_whole(500, [("content-type", "text/plain")], b"internal server error\n")

    # -- the ResponseChannel a ResponseWriter writes through -----------------------------------

    def queue(self, data: bytes, soon: bool = True) -> None:
        """Append to the output; one write per tick (`soon` False: the caller flushes)."""
        self._out.append(data)
        self._out_size += len(data)
        if soon and not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write everything queued now."""
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        self._out = []
        size, self._out_size = self._out_size, 0
        if self.lost:
            return
        if len(out) == 1:
            self._transport.write(out[0])
        elif size <= JOIN_LIMIT:
            self._transport.write(b"".join(out))
        else:
            self._transport.writelines(out)

    def send(self, data: bytes) -> None:
        """Write `data` now, after anything queued."""
        if self._out:
            self.queue(data, False)
            self.flush()
        elif not self.lost:
            self._transport.write(data)

    def unsent(self) -> int:
        """Bytes queued or in the transport's buffer."""
        if self.lost:
            return 0
        return self._out_size + self._transport.get_write_buffer_size()

    async def wait_writable(self) -> None:
        """Return once the transport is below its low-water mark; raise ConnectionClosed when
        the client is gone."""
        while self.write_paused and not self.lost:
            fut = self._loop.create_future()
            self._drain_waiters.append(fut)
            await fut
        if self.lost:
            raise ConnectionClosed(ABNORMAL, "client disconnected")

    def end_abnormally(self) -> None:
        """Send what is queued, then close without completing the response; a client that
        does not read it within ``close_timeout`` is aborted."""
        self._closing = True
        if self.lost:
            return
        self.flush()
        self._transport.close()
        if self._close_timer is None:
            self._close_timer = self._loop.call_later(self._server.settings.close_timeout, self._abort_transport)

    def may_keep_alive(self) -> bool:
        """Whether the connection may carry another request after this one: not while
        shutting down, nor while the request's body is still arriving (it may go unread)."""
        return not self._server.shutting_down and self._body is None

    def _abort_transport(self) -> None:
        self._close_timer = None
        if not self.lost:
            self._transport.abort()

    # -- WebSocket upgrade --------------------------------------------------------------------

    async def _upgrade(self, request: Request) -> None:
        server = self._server
        settings = server.settings
        try:
            key = validate_upgrade(request)
            request.subprotocols = offered_subprotocols(request)
            extensions, deflate = negotiate_extensions(request, deflate=settings.permessage_deflate)
        except HttpError as e:
            self._refuse(e)
            return
        try:
            result = await server.app.websocket(request)
            if isinstance(result, HttpResponse):
                if not self.lost:
                    writer = self._writer = ResponseWriter(
                        self, method=request.method, http_version=request.http_version, keep_alive=False
                    )
                    await send_response(writer, result)
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
            if not self.lost:
                self._refuse(HttpError(500, "internal server error"))
            return
        if self.lost:
            return
        if server.shutting_down:
            self._refuse(HttpError(503, "server shutting down"))
            return
        self._cancel_timers()
        self._pause_reading()  # the WebSocket resumes once it has parsed what came early
        ws = WebSocket(server, self._transport, request, result, codec, subprotocol)
        ws.write_paused = self.write_paused  # the transport's flow-control state carries over
        server.connections.discard(self)
        server.connections.add(ws)
        self._transport.set_protocol(ws)
        ws.start_after_upgrade(head, self._reader.take_remaining())

    # -- timers and shutdown ------------------------------------------------------------------

    def _arm_deadline(self) -> None:
        if self._deadline is None:
            self._deadline = self._loop.call_later(self._server.settings.request_read_timeout, self._read_timed_out)

    def _arm_idle_timer(self) -> None:
        """Close the connection if no request starts within the keep-alive timeout. One timer
        per connection, kept across requests: a pending one that fires no later than the new
        deadline re-checks it when it fires, so a busy keep-alive connection pays no
        call_later + cancel per request."""
        when = self._loop.time() + self._server.settings.http_keepalive_timeout
        self._idle_at = when
        if self._idle_timer is None:
            self._idle_timer = self._loop.call_at(when, self._idle_due)

    def _cancel_idle_timer(self) -> None:
        """No idle deadline until the next _arm_idle_timer (a pending timer finds none)."""
        self._idle_at = None

    def _idle_due(self) -> None:
        self._idle_timer = None
        when = self._idle_at
        if when is None or self.lost:
            return
        if self._loop.time() + _TIMER_SLACK < when:  # re-armed since: wait for the new deadline
            self._idle_timer = self._loop.call_at(when, self._idle_due)
            return
        self._idle_at = None
        self._idle_timed_out()

    def _drop_idle_timer(self) -> None:
        self._idle_at = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _cancel_timers(self) -> None:
        self._drop_idle_timer()
        self._cancel_deadline()

    def _idle_timed_out(self) -> None:
        self._idle_timer = None
        if self._busy or self.lost or self._closing:
            return
        if self._reader.buffered:  # a head started and did not finish in time
            self._refuse(HttpError(408, "request head not received in time"))
        else:
            self._closing = True
            self._transport.close()

    def _read_timed_out(self) -> None:
        self._deadline = None
        if not self.lost and not self._closing:
            timeout = self._server.settings.request_read_timeout
            self._refuse(HttpError(408, f"request not received within {timeout:g} s"))

    def begin_shutdown(self) -> None:
        """Server shutdown: an idle keep-alive connection closes now; a busy one closes after
        its response (which says `Connection: close`)."""
        if not self._busy and not self.lost:
            self._closing = True
            self._transport.close()

    def force_close(self) -> None:
        """Grace period over: a connection still answering a request is dropped."""
        if self._busy and not self.lost and self._transport is not None:
            self._transport.abort()

    @property
    def idle(self) -> bool:
        """Nothing in flight (used by graceful shutdown)."""
        return not self._busy


#: `_serve`'s usual steps around a request, natively: `_begin(conn, request)`, the response
#: writer of a request with no Upgrade field (else None); `_between(conn, writer)`, the connection
#: idle again and the future for its next request after a completed response (True with drives;
#: else None, nothing changed): rust/src/python/http_serve.rs.
_SERVE = _codec.HttpServe(
    (HttpConnection, Request, Headers, ResponseWriter, RequestReader, ServerSettings), ENDED, READER_PARTS[0], _writer_slots
)
_begin, _between = _SERVE.functions()

#: Every connection's `get_buffer` and `buffer_updated` are made by this (see `__init__`); it
#: starts the drive of a usual request (rust/src/python/http_drive.rs).
_RECEIVE = _codec.HttpReceive(
    (HttpConnection, RequestReader), *READER_PARTS, drives=_codec.HttpDrives(_SERVE, StreamedResponse, HttpConnection)
)


class RequestBody:
    """A streamed request body between the connection (which pushes what arrives) and the app
    (which iterates: ``async for chunk in request.stream()``). Iterate it once."""

    __slots__ = ("_conn", "_chunks", "queued", "_done", "_error", "_waiter", "_asked")

    def __init__(self, conn: HttpConnection) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        #: Bytes received and not yet taken by the app.
        self.queued = 0
        self._done = False
        self._error: BaseException | None = None
        self._waiter: asyncio.Future | None = None
        self._asked = False

    def push(self, data: bytes) -> None:
        """The connection received body bytes."""
        self._chunks.append(data)
        self.queued += len(data)
        self._wake()

    def finish(self) -> None:
        """The body is complete."""
        self._done = True
        self._wake()

    def fail(self, error: BaseException) -> None:
        """The body will not complete (413, 408, client gone): the app's next read raises."""
        if not self._done:
            self._error = error
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def __aiter__(self) -> RequestBody:
        return self

    async def __anext__(self) -> bytes:
        if not self._asked:
            self._asked = True
            self._conn.body_wanted()
        while not self._chunks:
            if self._error is not None:
                raise self._error
            if self._done:
                raise StopAsyncIteration
            self._waiter = self._conn._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self.queued -= len(data)
        self._conn.body_taken()
        return data
