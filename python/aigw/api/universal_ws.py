"""The Universal WebSocket API: `/v1/{account_id}/{gateway_id}`, many requests per connection.

One `UniversalSession` per connection. Each `universal.create` becomes a task running the
pipeline with a `WebSocketSink`; answers of different eventIds interleave freely and one
request's failure never touches another or the connection. Streamed chunks are framed by the
Rust relay straight into the connection's output queue (no Python object per chunk), and the
relay stops reading its upstream while the connection is above its high-water mark.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable

from aigw import _codec, pipeline
from aigw.api.universal_messages import (
    Cancel,
    MessageError,
    created,
    done,
    error_body,
    error_message,
    fast_create,
    parse_client_message,
)
from aigw.errors import AigwError, Unauthorized, bug_report
from aigw.logrecords import new_log_id
from aigw.pipeline import Answer, GatewayPolicy, GatewayRequest, RelayOutcome, Runtime, StepRequest, StreamFailed, make_gateway_request, relay_chunks, run
from aigw.protocol.websocket import OPEN, WebSocketConnection
from aigw.server.app import ConnectionClosed, WebSocketHandler
from aigw.server.turn_batching import StreamGauge
from aigw.server.websocket import WebSocket
from aigw.slots_maker import maker
from aigw.types import Framing, Principal, Usage


TEXT = _codec.TEXT
DUPLICATE_EVENT_ID, TOO_MANY_IN_FLIGHT = 2010, 2003
INTERNAL_ERROR = 2005  # a bug in aigw, answered with status 500 (Cloudflare has no code for it)
#: asyncio's Task, made here when the loop has no task factory: `loop.create_task` (uvloop's
#: and asyncio's) makes it unnamed, so the task names itself "Task-N", a string formatted for
#: every request (~1.5k instructions of ~170k); named by its log id instead.
_Task = asyncio.Task
#: The usual request (the native one, no `compat` step, the loop without a task factory,
#: `_Task` asyncio's) runs without a Task until it needs Python's coroutine, which then runs as
#: its Task (rust/src/python/usual_drive.rs: ~9,000 instructions a request less). False: every
#: request runs as a Task from its start.
_DRIVE = True

log = logging.getLogger("aigw.api")


def universal_metadata(answer: Answer) -> dict[str, Any]:
    """The Universal API's `metadata` object for `answer` (websocket-api.md): the step as a
    string, the bare content type, usage as tokensIn/tokensOut when known."""
    meta: dict[str, Any] = {
        "cacheStatus": answer.cache_status,
        "eventId": answer.event_id,
        "logId": answer.log_id,
        "step": str(answer.step),
        "contentType": answer.content_type,
        "status": answer.status,
    }
    if answer.usage is not None:
        meta["usage"] = {"tokensIn": answer.usage.tokens_in, "tokensOut": answer.usage.tokens_out}
    return meta


@dataclass(slots=True, eq=False)
class WebSocketSink:
    """Answers one eventId over a WebSocket connection."""

    ws: Any
    event_id: str
    #: Extra metadata per step (a `compat` step: the `provider`/`model` that answered).
    step_metadata: list[dict[str, Any]] | None = None
    answered: Answer | None = None  # once the request has answered

    def _metadata(self, answer: Answer) -> dict[str, Any]:
        meta = universal_metadata(answer)
        if self.step_metadata:
            meta.update(self.step_metadata[min(answer.step, len(self.step_metadata) - 1)])
        return meta

    def deliver(self, answer: Answer, body: bytes) -> None:
        """One `universal.created` carrying the provider's body unchanged."""
        self.answered = answer
        if self.step_metadata is None:
            # The usual answer: the message written in one native call, as `created` would.
            usage = answer.usage
            try:
                message = _codec.created_message(
                    answer.cache_status, answer.event_id, answer.log_id, answer.step, answer.content_type,
                    answer.status, None if usage is None else (usage.tokens_in, usage.tokens_out), body,
                )  # fmt: skip
            except (TypeError, ValueError, OverflowError):  # a value only Python writes (a count past 2**63)
                message = created(self._metadata(answer), body)
        else:
            message = created(self._metadata(answer), body)
        self.ws.send_text(message)

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error: a `universal.created` with a Cloudflare-style error body."""
        self.answered = answer
        self.ws.send_text(created(self._metadata(answer), error=error_body(error.code, error.message)))

    async def relay(self, answer: Answer, chunks: AsyncIterator[bytes], framing: Framing, provider: Any, collect: bool) -> RelayOutcome:
        """`universal.created`, then one `universal.stream` per upstream event, framed in Rust
        (SSE, NDJSON, or the AWS event stream: Bedrock's base64 `chunk`s decoded there, an
        `exception` message failing the stream). The pipeline ends the stream (end_stream) once
        it has judged it."""
        ws = self.ws
        self.answered = answer
        ws.send_text(created(self._metadata(answer)))
        keep_first, keep_last = provider.usage_events
        relay = _codec.StreamRelay(
            self.event_id,
            framing.value,  # "sse", "ndjson" or "eventstream": the framings the pipeline streams here
            terminator=provider.stream_terminator,
            keep_first=keep_first,
            keep_last=keep_last,
            collect=collect,
        )
        codec = ws.codec

        def consume(chunk: bytes) -> bool:
            # Runs inside the upstream's data_received for a pushed stream (relay_chunks).
            if ws.closed:
                raise ConnectionClosed(1006)
            if relay.feed(chunk, codec):
                ws.flush_soon()
            return ws.is_writable  # False: stop reading upstream until the client catches up

        error: AigwError | None = None
        # The same, natively, for the server's own WebSocket (rust/src/python/ws_stream.rs).
        consume = _STREAM_CONSUMERS.make(relay, ws) or consume
        STREAMS.enter()
        try:
            await relay_chunks(chunks, consume, ws.drained)
            if relay.finish(codec):
                error = StreamFailed("the upstream stream ended in the middle of an event")
        except ConnectionClosed:
            raise asyncio.CancelledError from None
        except AigwError as exc:  # the upstream broke or went silent (UpstreamChunks)
            error = exc
        except ValueError as exc:  # the relay refused an event (too big, malformed, an upstream exception)
            error = StreamFailed(f"malformed upstream stream: {exc}")
        finally:
            STREAMS.exit()
        first, last = list(relay.first), list(relay.last)
        usage = provider.usage_from_events(first, last)
        return RelayOutcome(first, last, relay.events, error, relay.collected if collect else None, usage, relay.saw_terminator)

    def end_stream(self, answer: Answer, usage: Usage | None, error: AigwError | None) -> None:
        """`universal.done` with the full metadata, usage, and `error` when the stream broke."""
        final = self._metadata(answer)
        if usage is not None:
            final["usage"] = {"tokensIn": usage.tokens_in, "tokensOut": usage.tokens_out}
        if error is not None:
            final["error"] = {"code": error.code, "message": error.message}
        self.ws.send_text(done(final))
        self.ws.flush_soon()


#: `WebSocketSink(ws, event_id)` in one native call (no `__init__` frame a request).
_make_sink = maker(WebSocketSink)

# The usual whole answer to a sink with no step metadata over the server's own WebSocket is
# written by the pipeline's native code as `deliver` then `WebSocket.send_text` would write it
# (rust/src/python/ws_whole.rs); anything else still comes to `deliver`.
pipeline.deliver_natively_to(_codec.WsWholeDeliver((WebSocketSink, WebSocket, WebSocketConnection), OPEN))

#: The streams relaying to Universal WebSocket clients, in this process (the gateway's turn
#: batching watches it: `server.batch_window_us`).
STREAMS = StreamGauge()

#: `consume` of a stream relayed to the server's own WebSocket, natively (see `relay`).
_STREAM_CONSUMERS = _codec.WsStreamConsumers((WebSocket, WebSocketConnection), OPEN, ConnectionClosed)


class UniversalSession(WebSocketHandler):
    """One client connection to the Universal API."""

    # Slots, so the native usual start (`_usual_start`) reads them in place.
    __slots__ = (
        "runtime", "principal", "accepting", "gateway", "max_inflight", "subprotocol", "request_headers", "inflight",
        "on_record", "compat", "_loop",
    )  # fmt: skip

    def __init__(
        self,
        runtime: Runtime,
        gateway: GatewayPolicy,
        *,
        max_inflight: int = 256,
        subprotocol: str | None = None,
        request_headers: dict[str, str] | None = None,
        on_record: Callable[[Any], None] | None = None,
        principal: Principal | None = None,
        compat: Any = None,
    ) -> None:
        self.runtime = runtime
        #: Who authenticated this connection (None: the gateway requires no token).
        self.principal = principal
        self.accepting = True
        self.gateway = gateway
        self.max_inflight = max_inflight
        self.subprotocol = subprotocol
        self.request_headers = request_headers or {}
        #: Each request in flight: its Task, or the native drive of a usual one (`_DRIVE`).
        self.inflight: dict[str, asyncio.Task | _codec.UsualDrive] = {}
        self.on_record = on_record
        #: Expands `provider: "compat"` steps (aigw.api.compat_routes.CompatDoors), if served.
        self.compat = compat
        self._loop: asyncio.AbstractEventLoop | None = None  # asked once (a getpid() call in 3.11)

    # -- callbacks from the server --
    def on_open(self, ws: Any) -> None:
        """The connection is open: its loop, learnt now, so that even its first request may
        start natively (`_usual_start` leaves a session without one to `_start`)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()

    @property
    def on_message(self) -> Callable[[Any, int, bytes], None]:
        """`handle_message` as the server calls it, with the usual `universal.create` read and
        started natively (`_codec.UsualStart.message_function`: no Python frame a message);
        the server asks for it once per connection."""
        return _usual_start_maker.message_function(self, fast_create)

    def handle_message(self, ws: Any, opcode: int, payload: bytes) -> None:
        """Handle one client message. Never raises: a bad message is answered for its eventId,
        and a bug while handling one is logged (without client data) and answered with a 500
        for that message only, so the connection and the other requests carry on."""
        if opcode != TEXT:
            ws.close(1003, "the Universal API takes JSON text messages")
            return
        event_id: str | None = None
        try:
            fast = fast_create(payload)  # the usual create, read whole in Rust
            if fast is not None:
                event_id = fast[0] or new_log_id()
                self._start(ws, event_id, fast[1])
                return
            message = parse_client_message(payload)
            if isinstance(message, Cancel):
                event_id = message.event_id
                self._cancel(ws, message)
            else:
                event_id = message.event_id or new_log_id()
                self._start(ws, event_id, [s.step_request() for s in message.steps])
        except Exception as exc:
            self._message_failed(ws, event_id, exc)

    def _start_read(self, ws: Any, event_id: str, steps: list[StepRequest], failed: BaseException | None) -> None:
        """`handle_message` for a usual create read natively whose native start declined
        (`failed` None: `_start` from the top) or raised `failed`."""
        try:
            if failed is not None:
                raise failed
            self._start(ws, event_id, steps)
        except Exception as exc:
            self._message_failed(ws, event_id, exc)

    def _message_failed(self, ws: Any, event_id: str | None, exc: Exception) -> None:
        """A client message's refusal (MessageError) or a bug while handling it, answered."""
        if isinstance(exc, MessageError):
            if exc.tied and exc.event_id is not None:
                meta = {"eventId": exc.event_id, "status": exc.status, "contentType": "application/json"}
                ws.send_text(created(meta, error=error_body(exc.code, exc.message)))
            else:
                ws.send_text(error_message(exc.code, exc.message, exc.event_id, exc.status))
            return
        log.error("bug while handling a client message: %s", bug_report(exc))
        if event_id is not None and event_id not in self.inflight:
            meta = {"eventId": event_id, "status": 500, "contentType": "application/json"}
            ws.send_text(created(meta, error=error_body(INTERNAL_ERROR, "internal error")))
        else:
            ws.send_text(error_message(INTERNAL_ERROR, "internal error", event_id, 500))

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        # A client that goes away cancels its upstream requests.
        for task in list(self.inflight.values()):
            task.cancel()

    async def cancel_all(self) -> None:
        """Refuse new requests, cancel the in-flight ones and return once each has been
        answered (`universal.done` with `cancelled`) and logged: the connection's credentials
        are gone (the caller then closes it)."""
        self.accepting = False
        for task in list(self.inflight.values()):
            task.cancel()
        # A request driven without a Task (`_DRIVE`) is awaited through `ended()`, which
        # completes when it ends or hands itself over to a Task; that Task then takes its
        # place in `inflight` and is awaited on the next round.
        waited: list[Any] = []
        while pending := [t for t in self.inflight.values() if not any(t is w for w in waited)]:
            waited += pending
            await asyncio.gather(*(t if isinstance(t, asyncio.Future) else t.ended() for t in pending), return_exceptions=True)

    # -- requests --
    def _cancel(self, ws: Any, message: Cancel) -> None:
        task = self.inflight.get(message.event_id)
        if task is None:
            ws.send_text(error_message(2010, f"no request {message.event_id!r} is in flight", message.event_id))
        else:
            task.cancel()

    def _start(self, ws: Any, event_id: str, steps: list[StepRequest]) -> None:
        if _usual_start(self, ws, event_id, steps):  # the usual start, natively (below)
            return
        if not self.accepting:
            meta = {"eventId": event_id, "status": 401, "contentType": "application/json"}
            ws.send_text(created(meta, error=error_body(Unauthorized.code, "the connection's auth token was revoked")))
            return
        if event_id in self.inflight:
            # A universal.error, not a universal.created: the in-flight request keeps its eventId
            # and a client must not take this refusal for that request's answer.
            ws.send_text(error_message(DUPLICATE_EVENT_ID, f"eventId {event_id!r} is already in flight on this connection", event_id))
            return
        if len(self.inflight) >= self.max_inflight:
            meta = {"eventId": event_id, "status": 429, "contentType": "application/json"}
            ws.send_text(created(meta, error=error_body(TOO_MANY_IN_FLIGHT, f"more than {self.max_inflight} requests in flight on this connection")))
            return
        # The log id is chosen here so that a request cancelled before it answered still
        # names its log entry in the final message.
        principal = self.principal.id if self.principal is not None else None
        request = make_gateway_request(self.gateway.name, "websocket", event_id, steps, self.request_headers, new_log_id(), principal, self)
        ws.work_started()
        loop = self._loop
        if loop is None:
            loop = self._loop = asyncio.get_running_loop()
        if self.compat is not None and (steps[0].provider == "compat" if len(steps) == 1 else any(s.provider == "compat" for s in steps)):
            self.inflight[event_id] = loop.create_task(self._run(ws, request))
            return
        # The common request runs the pipeline as the task itself, and what _run does around
        # it happens in a done callback: one coroutine level fewer for every resumption.
        sink = _make_sink(ws, event_id)
        coro = run(self.runtime, self.gateway, request, sink)
        task = _Task(coro, loop=loop, name=request.log_id) if loop.get_task_factory() is None else loop.create_task(coro)
        self.inflight[event_id] = task
        task.add_done_callback(functools.partial(self._ran, ws, request, sink))

    def _ran(self, ws: Any, request: GatewayRequest, sink: WebSocketSink, task: asyncio.Task) -> None:
        """After a request's task: its record to `on_record`, or `_run`'s answers to a
        cancellation (`universal.done` with `cancelled`) and to a bug (a 500)."""
        try:
            if task.cancelled():
                self._answer_cancelled(ws, request, sink)
            elif (exc := task.exception()) is not None:
                self._answer_bug(ws, request, exc)
            elif self.on_record is not None:
                self.on_record(task.result())
        finally:
            self.inflight.pop(request.event_id, None)
            ws.work_finished()

    def _answer_cancelled(self, ws: Any, request: GatewayRequest, sink: WebSocketSink) -> None:
        if not ws.closed:
            answered = sink.answered
            meta = sink._metadata(answered) if answered is not None else {"eventId": request.event_id, "logId": request.log_id}
            meta["cancelled"] = True
            ws.send_text(done(meta))

    def _answer_bug(self, ws: Any, request: GatewayRequest, exc: BaseException) -> None:
        # Logged here and not re-raised: nobody awaits the task, and the exception's own
        # message may carry the client's headers or body.
        log.error("bug while running request %s: %s", request.log_id, bug_report(exc))
        if not ws.closed:
            meta = {"eventId": request.event_id, "logId": request.log_id, "status": 500, "contentType": "application/json"}
            ws.send_text(created(meta, error=error_body(INTERNAL_ERROR, f"internal error: {exc.__class__.__name__}")))

    async def _run(self, ws: Any, request: GatewayRequest) -> None:
        """A request with `compat` steps: expanded (CompatDoors.universal_steps), then run."""
        sink = WebSocketSink(ws, request.event_id)
        try:
            try:
                answering = await self.compat.universal_steps(request, sink)
            except AigwError as err:  # the unified body is refused before any step runs
                meta = {"eventId": request.event_id, "logId": request.log_id, "status": err.status, "contentType": "application/json"}
                ws.send_text(created(meta, error=error_body(err.code, err.message)))
                return
            record = await run(self.runtime, self.gateway, request, answering)
            if self.on_record is not None:
                self.on_record(record)
        except asyncio.CancelledError:
            self._answer_cancelled(ws, request, sink)
        except Exception as exc:  # a bug must not take the connection down with it
            self._answer_bug(ws, request, exc)
        finally:
            self.inflight.pop(request.event_id, None)
            ws.work_finished()


#: `_start`'s usual case (a session taking requests, a new eventId with room for it, no
#: `compat` step, a loop without a task factory) and `_ran` for a request that ended with its
#: record, natively (the server's WebSocket's `work_started`/`work_finished` counted in its
#: slots); False, having changed nothing, for any other start: rust/src/python/usual_start.rs.
_usual_start_maker = _codec.UsualStart(
    UniversalSession, StepRequest, GatewayPolicy, globals(), make_gateway_request, new_log_id, _make_sink, run, pipeline._usual_run,
    WebSocket,
)
_usual_start = _usual_start_maker.function()
