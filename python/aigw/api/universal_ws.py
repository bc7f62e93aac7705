"""The Universal WebSocket API: `/v1/{account_id}/{gateway_id}`, many requests per connection.

One `UniversalSession` per connection. Each `universal.create` becomes a task running the
pipeline with a `WebSocketSink`; answers of different eventIds interleave freely and one
request's failure never touches another or the connection. Streamed chunks are framed by the
Rust relay straight into the connection's output queue (no Python object per chunk), and the
relay stops reading its upstream while the connection is above its high-water mark.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator, Callable

from aigw import _codec
from aigw.api.universal_messages import (
    Cancel,
    Create,
    MessageError,
    created,
    done,
    error_body,
    error_message,
    parse_client_message,
)
from aigw.errors import AigwError
from aigw.logrecords import new_log_id
from aigw.pipeline import Answer, GatewayPolicy, GatewayRequest, RelayOutcome, Runtime, StepRequest, StreamFailed, run
from aigw.server.app import ConnectionClosed, WebSocketHandler
from aigw.types import Framing, Usage

log = logging.getLogger("aigw.api")

TEXT = _codec.TEXT
DUPLICATE_EVENT_ID, TOO_MANY_IN_FLIGHT = 2010, 2003


class WebSocketSink:
    """Answers one eventId over a WebSocket connection."""

    __slots__ = ("ws", "event_id", "answered")

    def __init__(self, ws: Any, event_id: str) -> None:
        self.ws = ws
        self.event_id = event_id
        self.answered: dict[str, Any] | None = None  # metadata once the request has answered

    def deliver(self, answer: Answer, body: bytes) -> None:
        """One `universal.created` carrying the provider's body unchanged."""
        self.answered = answer.metadata
        self.ws.send_text(created(answer.metadata, body))

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error: a `universal.created` with a Cloudflare-style error body."""
        self.answered = answer.metadata
        self.ws.send_text(created(answer.metadata, error=error_body(error.code, error.message)))

    async def relay(self, answer: Answer, chunks: AsyncIterator[bytes], framing: Framing, provider: Any, collect: bool) -> RelayOutcome:
        """`universal.created`, then one `universal.stream` per upstream event (framed in Rust).
        The pipeline ends the stream (end_stream) once it has judged it."""
        ws = self.ws
        meta = answer.metadata
        self.answered = meta
        ws.send_text(created(meta))
        keep_first, keep_last = provider.usage_events
        relay = _codec.StreamRelay(
            self.event_id,
            "ndjson" if framing is Framing.NDJSON else "sse",
            terminator=provider.stream_terminator,
            keep_first=keep_first,
            keep_last=keep_last,
            collect=collect,
        )
        codec = ws.codec
        error: AigwError | None = None
        try:
            async for chunk in chunks:
                if ws.closed:
                    raise ConnectionClosed(1006)
                if relay.feed(chunk, codec):
                    ws.flush_soon()
                if not ws.is_writable:
                    await ws.drained()  # stop reading upstream until the client catches up
            if relay.finish(codec):
                error = StreamFailed("the upstream stream ended in the middle of an event")
        except ConnectionClosed:
            raise asyncio.CancelledError from None
        except AigwError as exc:  # the upstream broke or went silent (UpstreamChunks)
            error = exc
        except ValueError as exc:  # the relay refused an event (too big, malformed)
            error = StreamFailed(f"malformed upstream stream: {exc}")
        first, last = list(relay.first), list(relay.last)
        usage = provider.usage_from_events(first, last)
        return RelayOutcome(first, last, relay.events, error, relay.collected if collect else None, usage, relay.saw_terminator)

    def end_stream(self, answer: Answer, usage: Usage | None, error: AigwError | None) -> None:
        """`universal.done` with the full metadata, usage, and `error` when the stream broke."""
        final = dict(answer.metadata)
        if usage is not None:
            final["usage"] = {"tokensIn": usage.tokens_in, "tokensOut": usage.tokens_out}
        if error is not None:
            final["error"] = {"code": error.code, "message": error.message}
        self.ws.send_text(done(final))
        self.ws.flush_soon()


class UniversalSession(WebSocketHandler):
    """One client connection to the Universal API."""

    def __init__(
        self,
        runtime: Runtime,
        gateway: GatewayPolicy,
        *,
        max_inflight: int = 256,
        subprotocol: str | None = None,
        request_headers: dict[str, str] | None = None,
        on_record: Callable[[Any], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.gateway = gateway
        self.max_inflight = max_inflight
        self.subprotocol = subprotocol
        self.request_headers = request_headers or {}
        self.inflight: dict[str, asyncio.Task] = {}
        self.on_record = on_record

    # -- callbacks from the server --
    def on_message(self, ws: Any, opcode: int, payload: bytes) -> None:
        if opcode != TEXT:
            ws.close(1003, "the Universal API takes JSON text messages")
            return
        try:
            message = parse_client_message(payload)
        except MessageError as err:
            if err.tied and err.event_id is not None:
                meta = {"eventId": err.event_id, "status": err.status, "contentType": "application/json"}
                ws.send_text(created(meta, error=error_body(err.code, err.message)))
            else:
                ws.send_text(error_message(err.code, err.message, err.event_id, err.status))
            return
        if isinstance(message, Cancel):
            task = self.inflight.get(message.event_id)
            if task is None:
                ws.send_text(error_message(2010, f"no request {message.event_id!r} is in flight", message.event_id))
            else:
                task.cancel()
            return
        self._start(ws, message)

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        # A client that goes away cancels its upstream requests.
        for task in list(self.inflight.values()):
            task.cancel()

    # -- requests --
    def _start(self, ws: Any, message: Create) -> None:
        event_id = message.event_id or new_log_id()
        if event_id in self.inflight:
            # A universal.error, not a universal.created: the in-flight request keeps its eventId
            # and a client must not take this refusal for that request's answer.
            ws.send_text(error_message(DUPLICATE_EVENT_ID, f"eventId {event_id!r} is already in flight on this connection", event_id))
            return
        if len(self.inflight) >= self.max_inflight:
            meta = {"eventId": event_id, "status": 429, "contentType": "application/json"}
            ws.send_text(created(meta, error=error_body(TOO_MANY_IN_FLIGHT, f"more than {self.max_inflight} requests in flight on this connection")))
            return
        steps = [
            StepRequest(s.provider, s.endpoint, s.headers, s.body, s.stream, s.model, s.config)
            for s in message.steps
        ]
        # The log id is chosen here so that a request cancelled before it answered still
        # names its log entry in the final message.
        request = GatewayRequest(self.gateway.name, "websocket", event_id, steps, self.request_headers, new_log_id())
        ws.work_started()
        self.inflight[event_id] = asyncio.get_running_loop().create_task(self._run(ws, request))

    async def _run(self, ws: Any, request: GatewayRequest) -> None:
        sink = WebSocketSink(ws, request.event_id)
        try:
            record = await run(self.runtime, self.gateway, request, sink)
            if self.on_record is not None:
                self.on_record(record)
        except asyncio.CancelledError:
            if not ws.closed:
                meta = dict(sink.answered or {"eventId": request.event_id, "logId": request.log_id})
                meta["cancelled"] = True
                ws.send_text(done(meta))
        except Exception as exc:  # a bug must not take the connection down with it
            if not ws.closed:
                meta = {"eventId": request.event_id, "logId": request.log_id, "status": 500, "contentType": "application/json"}
                ws.send_text(created(meta, error=error_body(2005, f"internal error: {exc.__class__.__name__}")))
            # Logged here, not re-raised: nobody awaits this task, so a re-raised exception would
            # only surface as "Task exception was never retrieved" when it is collected.
            log.exception("internal error in request %s (log %s)", request.event_id, request.log_id)
        finally:
            self.inflight.pop(request.event_id, None)
            ws.work_finished()
