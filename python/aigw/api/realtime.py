"""Realtime pass-through: a client speaking a provider's own WebSocket protocol through aigw.

    GET /v1/{account}/{gateway}/{provider}[/{rest}]?{query}   Upgrade: websocket

The front door has already resolved the gateway and checked the token (header or the
``cf-aig-authorization.<token>`` subprotocol). ``RealtimeRoute`` then:

1. picks the provider (``google`` is Google AI Studio, as in Cloudflare's URLs) and its realtime
   endpoint (``RealtimeEndpoint.realtime_target``): client credentials from its headers, a
   key-bearing subprotocol or the query, else the stored key (``cf-aig-byok-alias`` picks one);
2. connects upstream BEFORE accepting the client, so a provider that refuses the upgrade
   (401, 404, 429) gives the client that status and body, never a 101 then a close;
3. returns a ``RealtimeSession`` (the server's WebSocketHandler) that relays every text and
   binary message unchanged both ways, propagates close codes and reasons both ways, and logs
   one record per session.

Flow control both ways: when the client is not writable the upstream stops being read until the
client drains; when the upstream is not writable the client stops being read until the upstream
drains. Memory per session stays bounded whatever the audio rate (each side's send-buffer bound
still aborts a socket that somehow passes it).

Timers: ``[realtime] idle_timeout`` (no data frame either way: 1000 to both sides) and
``max_session`` (1008 to both). ``max_sessions_per_gateway`` caps open sessions (429).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from aigw._codec import RELAYED
from aigw.api.gateway_context import GatewayContext
from aigw.api.realtime_gemini import DROP, FORWARD_RESUME, RESUME, GeminiResumption
from aigw.builtins.providers.realtime import RealtimeEndpoint, RealtimeRequest, RealtimeTarget
from aigw.errors import AigwError, InvalidProvider, RateLimited, RequestTimeout, bug_report
from aigw.logrecords import collect_flags, new_log_id, parse_metadata_header
from aigw.observe.request_notes import note_request
from aigw.pipeline import ProviderCredentialsMissing
from aigw.protocol.http11 import HttpResponse, Request
from aigw.protocol.websocket import OPEN, check_close_code
from aigw.server.app import WebSocketHandler
from aigw.types import LogRecord
from aigw.upstream.errors import UpstreamError, UpstreamTimeout
from aigw.upstream.websocket import HandshakeRejected, UpstreamWebSocket, connect_websocket

if TYPE_CHECKING:
    from aigw.config import RealtimeSettings
    from aigw.pipeline import Runtime

__all__ = ["PROVIDER_ALIASES", "RealtimeRoute", "RealtimeSession", "SessionCounter"]

log = logging.getLogger("aigw.realtime")

#: Cloudflare's realtime slugs that name another provider.
PROVIDER_ALIASES = {"google": "google-ai-studio"}
#: Close codes a session ends normally with.
NORMAL_CLOSES = frozenset({1000, 1001, 1005})
# Headers of a provider's refusal worth passing on (the rest describe its connection).
_REFUSAL_HEADERS = frozenset({"content-type", "retry-after", "www-authenticate", "x-request-id", "request-id"})


def error_response(err: AigwError) -> HttpResponse:
    """A Cloudflare-style JSON error answer for a refused upgrade."""
    return HttpResponse.json(err.body(), status=err.status)


def sendable(code: int, default: int) -> int:
    """`code` when a close frame may carry it, else `default` (1005/1006/1015 never go on
    the wire: "no status" and "abnormal" are reported, not sent)."""
    try:
        check_close_code(code)
    except ValueError:
        return default
    return code


def relayed_close(code: int, reason: str, *, lost: tuple[int, str]) -> tuple[int, str]:
    """The close to give the other side for a side that ended with (`code`, `reason`): the
    same when it may be sent; 1005 (a close frame without a code) as 1000; 1006 (the TCP
    connection dropped) as `lost`."""
    if code == 1006:
        return lost
    if code == 1005:
        return 1000, ""
    return (code, reason) if sendable(code, 0) else lost


class SessionCounter:
    """Open realtime sessions per gateway, against `[realtime] max_sessions_per_gateway`."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._open: dict[str, int] = {}

    def acquire(self, gateway: str) -> bool:
        """Take a place for a session on `gateway`; False when the gateway is full."""
        count = self._open.get(gateway, 0)
        if self.cap and count >= self.cap:
            return False
        self._open[gateway] = count + 1
        return True

    def release(self, gateway: str) -> None:
        """Give a place back (exactly once per successful acquire)."""
        count = self._open.get(gateway, 0) - 1
        if count > 0:
            self._open[gateway] = count
        else:
            self._open.pop(gateway, None)

    def open(self, gateway: str) -> int:
        """Sessions open (or connecting) on `gateway`."""
        return self._open.get(gateway, 0)


@dataclass(slots=True)
class SessionStats:
    """What one session moved, for its log record."""

    frames_in: int = 0  # client -> provider
    bytes_in: int = 0
    frames_out: int = 0  # provider -> client
    bytes_out: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    client_close: tuple[int, str] | None = None
    upstream_close: tuple[int, str] | None = None
    closed_by: str | None = None
    resumptions: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def add_usage(self, tokens_in: int | None, tokens_out: int | None) -> None:
        if tokens_in is not None:
            self.tokens_in = (self.tokens_in or 0) + tokens_in
        if tokens_out is not None:
            self.tokens_out = (self.tokens_out or 0) + tokens_out


class RealtimeRoute:
    """The handler of ``WEBSOCKET /v1/{account}/{gateway}/{provider}[/{rest:path}]``."""

    def __init__(
        self,
        runtime: Runtime,
        settings: RealtimeSettings,
        *,
        max_message_size: int,
        on_record: Callable[[LogRecord], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.max_message_size = max_message_size
        self.sessions = SessionCounter(settings.max_sessions_per_gateway)
        self.on_record = on_record

    async def __call__(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """Connect upstream, then accept the client with a RealtimeSession, or refuse it with
        the gateway's error (400/429/502/504) or the provider's own refusal."""
        assert ctx is not None  # the route is not public
        started = time.time()
        headers = {k.lower(): v for k, v in request.headers}
        slug = params["provider"]
        name = PROVIDER_ALIASES.get(slug, slug)
        rreq = RealtimeRequest(params.get("rest", ""), request.query, headers, list(request.subprotocols))
        record = self._record(ctx, headers, name, rreq.rest, started)
        collect, _ = collect_flags(ctx.policy.collect_logs, headers)
        try:
            # The custom cost, trace context and principal, as on every request (a malformed
            # cf-aig-custom-cost refuses the upgrade with 400).
            note_request(record, headers, ctx.principal.id if ctx.principal is not None else None)
            provider = self.runtime.providers.get(name)
            available = getattr(provider, "realtime_available", None)
            if provider is None or available is None or not available():
                raise InvalidProvider(f"provider {slug!r} has no realtime WebSocket API through this gateway")
            key = None
            if not provider.realtime_has_client_auth(rreq):
                key = self.runtime.keys.lookup(name, headers.get("cf-aig-byok-alias"))
                in_messages = getattr(provider, "realtime_key_in_messages", None)
                if key is None and not (in_messages is not None and in_messages(rreq)):
                    raise ProviderCredentialsMissing(
                        f"no {name} credentials: send the provider's auth header or subprotocol, or store a key "
                        f"under [providers.{name}] key"
                    )
            target: RealtimeTarget = provider.realtime_target(rreq, key)
            record.model = target.model
            if not self.sessions.acquire(ctx.name):
                raise RateLimited(f"gateway {ctx.name!r} has {self.sessions.cap} realtime sessions open (the maximum)")
        except AigwError as err:
            return self._refuse(record, collect, error_response(err), err.message, started)
        try:
            upstream = await self._connect(target)
        except HandshakeRejected as rejected:
            self.sessions.release(ctx.name)
            kept = [(n, v) for n, v in rejected.headers if n in _REFUSAL_HEADERS]
            return self._refuse(record, collect, HttpResponse(rejected.status, rejected.body, kept), f"upstream refused the upgrade: {rejected.status}", started)
        except UpstreamTimeout as err:
            self.sessions.release(ctx.name)
            return self._refuse(record, collect, error_response(RequestTimeout(str(err))), str(err), started)
        except UpstreamError as err:
            self.sessions.release(ctx.name)
            return self._refuse(record, collect, error_response(AigwError(f"upstream WebSocket failed: {err}", status=502)), str(err), started)
        except BaseException:
            # Cancelled while the provider answers (the client left, the gateway shuts down):
            # the half-open upstream was aborted by connect_websocket; the attempt is logged.
            self.sessions.release(ctx.name)
            record.cancelled, record.error = True, "cancelled during the upstream handshake"
            record.duration_ms = (time.time() - started) * 1000.0
            self.emit(record, collect)
            raise
        gemini = GeminiResumption() if name == "google-ai-studio" and self.settings.resume_gemini else None
        # Never echo a token or key: the upstream's choice, else another offered subprotocol
        # (a browser that offered some fails the connection when none is selected).
        offered = [p for p in rreq.subprotocols if p in target.selectable()]
        chosen = upstream.subprotocol if upstream.subprotocol in offered else (offered[0] if offered else None)
        return RealtimeSession(self, ctx.name, provider, target, upstream, record, collect, gemini, subprotocol=chosen)

    async def _connect(self, target: RealtimeTarget) -> UpstreamWebSocket:
        timeout = self.settings.connect_timeout_ms / 1000.0
        return await connect_websocket(
            target.url,
            headers=target.headers,
            subprotocols=target.subprotocols,
            ssl_context=self.runtime.client.ssl_context,
            connect_timeout=timeout,
            handshake_timeout=timeout,
            max_message_size=self.max_message_size,
        )

    def _record(self, ctx: GatewayContext, headers: Mapping[str, str], provider: str, rest: str, started: float) -> LogRecord:
        record = LogRecord(
            log_id=new_log_id(),
            created_at=started,
            gateway=ctx.name,
            request_type="realtime",
            provider=provider,
            endpoint=rest or None,
            stream=True,
            metadata=parse_metadata_header(headers.get("cf-aig-metadata")),
        )
        return record

    def _refuse(self, record: LogRecord, collect: bool, answer: HttpResponse, error: str, started: float) -> HttpResponse:
        record.status, record.error = answer.status, error
        record.duration_ms = (time.time() - started) * 1000.0
        self.emit(record, collect)
        return answer

    def emit(self, record: LogRecord, collect: bool) -> None:
        """Hand `record` to every observer (cost, metrics, traces: logged or not), then the test
        hook and, when logs are collected, every logger."""
        for observer in self.runtime.observers:  # before the loggers, so the cost is logged
            try:
                observer.observe(record)
            except Exception as exc:  # a broken observer must not break the session's end
                log.error("observer failed on a realtime record: %s", bug_report(exc))
        if self.on_record is not None:
            self.on_record(record)
        if collect:
            for logger in self.runtime.loggers:
                try:
                    logger.log(record)
                except Exception as exc:  # one broken logger must not break the session's end
                    log.error("logger failed on a realtime record: %s", bug_report(exc))


class RealtimeSession(WebSocketHandler):
    """One relayed session: the client's socket (server side) and one upstream socket (the
    upstream may be replaced when a Gemini Live session resumes)."""

    def __init__(
        self,
        route: RealtimeRoute,
        gateway: str,
        provider: Any,
        target: RealtimeTarget,
        upstream: UpstreamWebSocket,
        record: LogRecord,
        collect: bool,
        gemini: GeminiResumption | None,
        *,
        subprotocol: str | None,
    ) -> None:
        self.subprotocol = subprotocol
        self.route = route
        self.gateway = gateway
        self.provider = provider
        self.target = target
        self.upstream = upstream
        self.record = record
        self.collect = collect
        self.gemini = gemini
        self.stats = SessionStats()
        # Upstream messages worth decoding for usage: those containing the provider's marker
        # (None: none are); b"" (in every payload) when the provider decides for itself.
        if getattr(type(provider), "realtime_usage", None) is RealtimeEndpoint.realtime_usage:
            self._usage_marker: bytes | None = provider.realtime_usage_marker
        else:
            self._usage_marker = b""
        self.ws: Any = None
        self._loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        self._activity = False
        self._relayed_mark = 0  # messages relayed in Rust as of the last idle check
        self._idle_timer: asyncio.TimerHandle | None = None
        self._max_timer: asyncio.TimerHandle | None = None
        self._client_done = False
        self._upstream_done = False
        self._finished = False
        self._resuming = False
        self._held: deque[tuple[int, bytes]] = deque()  # client messages while resuming
        self._held_bytes = 0
        self._client_paused = False
        self._upstream_paused = False
        self._tasks: set[asyncio.Task] = set()
        # The server calls on_open in the same step that receives this handler, unless the client
        # left (or shutdown began) while the provider was answering: then nothing else would
        # ever close the provider's side.
        self._loop.call_soon(self._check_opened)

    def _check_opened(self) -> None:
        if self.ws is not None or self._finished:
            return
        self.stats.client_close = (1006, "the client left before the upgrade completed")
        self.stats.closed_by = "client"
        self.upstream.start(lambda opcode, payload: None, lambda code, reason: None)
        self.upstream.close(1001, "client went away")
        self._client_done = True
        self._maybe_finish()

    # -- the client's side (server callbacks) --------------------------------------------------

    def on_open(self, ws: Any) -> None:
        self.ws = ws
        ws.work_started()  # not idle for the server: this session keeps its own timers
        self._link(self.upstream)
        self.upstream.start(type(self)._from_upstream, self._bind_close(self.upstream), target=self)
        settings = self.route.settings
        if settings.idle_timeout:
            self._idle_timer = self._loop.call_later(settings.idle_timeout, self._check_idle)
        if settings.max_session:
            self._max_timer = self._loop.call_later(settings.max_session, self._session_too_long)

    def on_message(self, ws: Any, opcode: int, payload: bytes) -> None:
        stats = self.stats
        stats.frames_in += 1
        stats.bytes_in += len(payload)
        self._activity = True
        if self.gemini is not None:
            self.gemini.client_message(opcode, payload)
            if self.record.model is None:
                self.record.model = self.gemini.model
        if self._resuming:
            self._held.append((opcode, payload))
            self._held_bytes += len(payload)
            if self._held_bytes > self.route.settings.max_buffered_bytes:
                self._end_both(1008, "too much data while the provider reconnected", "gateway")
            return
        self._to_upstream(opcode, payload)

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        self.stats.client_close = (code, reason)
        if self.stats.closed_by is None:
            self.stats.closed_by = "client"
        self._client_done = True
        self._cancel_timers()
        # Close the provider's side now, with the client's code when it may be sent.
        self.upstream.close(*relayed_close(code, reason, lost=(1001, "client went away")))
        if self.upstream.state.name == "CLOSED":
            self._upstream_done = True
        self._maybe_finish()

    # -- the provider's side ------------------------------------------------------------------

    def _bind_close(self, upstream: UpstreamWebSocket) -> Callable[[int, str], None]:
        def on_close(code: int, reason: str) -> None:
            self._upstream_closed(upstream, code, reason)

        return on_close

    def _from_upstream(self, opcode: int, payload: bytes) -> None:
        """One message from the provider (the current upstream, or one being replaced by a
        resumed connection): usage, Gemini's resumption bookkeeping, then to the client."""
        stats = self.stats
        self._activity = True
        marker = self._usage_marker
        if marker is not None and marker in payload:
            usage = self.provider.realtime_usage(payload)
            if usage is not None:
                stats.add_usage(usage.tokens_in, usage.tokens_out)
        verdict = None
        if self.gemini is not None:
            verdict = self.gemini.upstream_message(payload)
            if verdict == RESUME:
                self._start_resume()
                return
            if verdict == DROP:
                return
        ws = self.ws
        if ws is None or ws.closed:
            return
        stats.frames_out += 1
        stats.bytes_out += len(payload)
        ws.send(opcode, payload)
        if verdict == FORWARD_RESUME:
            self._start_resume()
        if ws.write_paused and not self._upstream_paused:
            # The client is behind (it is OPEN: checked above): stop reading the provider
            # until it drains.
            self._upstream_paused = True
            self.upstream.pause_reading()
            self._spawn(self._resume_upstream_when_drained())

    def _upstream_closed(self, upstream: UpstreamWebSocket, code: int, reason: str) -> None:
        if upstream is not self.upstream:
            return  # a connection replaced by a resumed one
        if self._resuming:
            return  # the resume task reports its own failure
        gemini = self.gemini
        if gemini is not None and gemini.going_away and gemini.can_resume() and not self._client_done:
            self._start_resume()  # the provider closed before a resumable handle was used
            return
        self.stats.upstream_close = (code, reason)
        if self.stats.closed_by is None:
            self.stats.closed_by = "upstream"  # its close frame, or its connection dropped (1006)
        self._upstream_done = True
        self._cancel_timers()
        ws = self.ws
        if ws is not None and not ws.closed:
            ws.close(*relayed_close(code, reason, lost=(1011, "upstream connection lost")))
        self._maybe_finish()

    # -- relay and flow control ---------------------------------------------------------------

    def _link(self, upstream: UpstreamWebSocket) -> None:
        """Make each side flush the other at the end of its read batch: a relayed message is
        written in the same loop step it was read in (no call_soon per message). Without
        Gemini's bookkeeping (which reads every message), each read is also relayed in Rust
        (``WsCodec.relay_buffered``): no Python object per message, counts kept by the codecs."""
        self.ws.relay_peer = upstream
        upstream.relay_peer = self.ws
        if self.gemini is None:
            self.ws.read_relay = self._relay_from_client
            upstream.read_relay = self._relay_from_upstream

    def _relay_from_client(self, nbytes: int) -> list:
        codec = self.ws.codec
        upstream = self.upstream
        if not upstream.open:
            # Closing: messages come back as events, and on_message drops them as sends do.
            return codec.buffer_updated(nbytes)
        events = codec.relay_buffered(nbytes, upstream.codec)
        if upstream.write_paused and not self._client_paused:  # (it is open: checked above)
            # The provider is behind: stop reading the client until it drains.
            self._client_paused = True
            self.ws.pause_reading()
            self._spawn(self._resume_client_when_drained())
        return events

    def _relay_from_upstream(self, nbytes: int) -> list:
        codec = self.upstream.codec
        ws = self.ws
        if ws.protocol.state is not OPEN:
            # Messages come back as events: their usage is still counted (_from_upstream).
            return codec.buffer_updated(nbytes)
        events = codec.relay_buffered(nbytes, ws.codec, self._usage_marker)
        if events:
            events = self._take_reported(events)
        if ws.write_paused and not self._upstream_paused:
            # The client is behind: stop reading the provider until it drains.
            self._upstream_paused = True
            self.upstream.pause_reading()
            self._spawn(self._resume_upstream_when_drained())
        return events

    def _take_reported(self, events: list) -> list:
        """Count the usage of the relayed messages `relay_buffered` reported; the other events."""
        rest = []
        for event in events:
            if event[0] == RELAYED:
                usage = self.provider.realtime_usage(event[2])
                if usage is not None:
                    self.stats.add_usage(usage.tokens_in, usage.tokens_out)
            else:
                rest.append(event)
        return rest

    def _relayed(self) -> tuple[int, int, int, int]:
        """(messages, bytes) relayed in Rust client -> provider, then provider -> client."""
        ws, upstream = self.ws, self.upstream
        c = (ws.codec.relayed_messages, ws.codec.relayed_bytes) if ws is not None else (0, 0)
        return (*c, upstream.codec.relayed_messages, upstream.codec.relayed_bytes)

    def _to_upstream(self, opcode: int, payload: bytes) -> None:
        upstream = self.upstream
        upstream.send(opcode, payload)
        if not upstream.is_writable and not self._client_paused and self.ws is not None:
            # The provider is behind: stop reading the client until it drains.
            self._client_paused = True
            self.ws.pause_reading()
            self._spawn(self._resume_client_when_drained())

    async def _resume_upstream_when_drained(self) -> None:
        try:
            await self.ws.drained()
        except Exception:
            return  # the client is gone: on_close closes the provider's side
        finally:
            self._upstream_paused = False
        self.upstream.resume_reading()

    async def _resume_client_when_drained(self) -> None:
        try:
            await self.upstream.drained()
        except Exception:
            # That upstream is gone: either the client is being closed too, or a resumed Gemini
            # connection replaces it and client messages are held (bounded) meanwhile.
            pass
        finally:
            self._client_paused = False
        if not self.ws.closed:
            self.ws.resume_reading()

    # -- Gemini Live resumption ---------------------------------------------------------------

    def _start_resume(self) -> None:
        if self._resuming or self._client_done:
            return
        self._resuming = True
        self._spawn(self._resume())

    async def _resume(self) -> None:
        old = self.upstream
        old.close(1000, "resuming the session on a new connection")
        try:
            new = await self.route._connect(self.target)
        except (UpstreamError, OSError) as err:
            self._resuming = False
            log.warning("gemini live: resuming the session failed: %s", err)
            code, reason = (old.close_code or 1011, old.close_reason) if old.state.name == "CLOSED" else (1011, "")
            self.stats.extra["resume_error"] = str(err)[:200]
            self._upstream_done = True
            self.stats.upstream_close = (code, reason)
            self.stats.closed_by = self.stats.closed_by or "upstream"
            if self.ws is not None and not self.ws.closed:
                self.ws.close(sendable(code, 1011), reason or "the provider ended the session and it could not be resumed")
            self._maybe_finish()
            return
        if self._client_done:
            new.start(lambda op, p: None, lambda c, r: None)
            new.close(1001, "client went away")
            self._resuming = False
            self._upstream_done = True
            self._maybe_finish()
            return
        self.upstream = new
        self.stats.resumptions += 1
        self._link(new)
        new.start(type(self)._from_upstream, self._bind_close(new), target=self)
        assert self.gemini is not None
        setup = self.gemini.resumed_setup()
        if self.gemini.setup_opcode == 1:
            new.send_text(setup)
        else:
            new.send_binary(setup)
        held, self._held = self._held, deque()
        self._held_bytes = 0
        self._resuming = False
        for opcode, payload in held:
            self._to_upstream(opcode, payload)

    # -- timers and the end -------------------------------------------------------------------

    def _check_idle(self) -> None:
        self._idle_timer = None
        if self._client_done or self._upstream_done:
            return
        relayed = self._relayed()
        moved = relayed[0] + relayed[2]
        if self._activity or moved != self._relayed_mark:
            self._activity = False
            self._relayed_mark = moved
            self._idle_timer = self._loop.call_later(self.route.settings.idle_timeout, self._check_idle)
            return
        self._end_both(1000, "idle timeout", "gateway")

    def _session_too_long(self) -> None:
        self._max_timer = None
        self._end_both(1008, "maximum session duration reached", "gateway")

    def _end_both(self, code: int, reason: str, who: str) -> None:
        if self.stats.closed_by is None:
            self.stats.closed_by = who
        self._cancel_timers()
        if self.ws is not None:
            self.ws.close(code, reason)
        self.upstream.close(code, reason)

    def _cancel_timers(self) -> None:
        for timer in (self._idle_timer, self._max_timer):
            if timer is not None:
                timer.cancel()
        self._idle_timer = self._max_timer = None

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _maybe_finish(self) -> None:
        """Once the client's socket is gone: give the place back and log the session (the
        provider's side was closed in on_close; its outcome is whatever it was by then)."""
        if self._finished or not self._client_done:
            return
        self._finished = True
        if self.ws is not None:
            self.ws.work_finished()
        self.route.sessions.release(self.gateway)
        for task in list(self._tasks):
            task.cancel()
        self._emit()

    def _emit(self) -> None:
        stats, record = self.stats, self.record
        upstream_close = stats.upstream_close
        if upstream_close is None and self.upstream.close_code is not None:
            upstream_close = (self.upstream.close_code, self.upstream.close_reason)
        client_code = stats.client_close[0] if stats.client_close else None
        record.status = 101
        record.duration_ms = (time.time() - record.created_at) * 1000.0  # from the upgrade request
        record.tokens_in, record.tokens_out = stats.tokens_in, stats.tokens_out
        end_code = upstream_close[0] if stats.closed_by == "upstream" and upstream_close else client_code
        record.success = end_code in NORMAL_CLOSES
        if not record.success:
            record.error = f"session ended with {end_code} (closed by {stats.closed_by})"
        relayed = self._relayed()
        record.session = {
            "frames_in": stats.frames_in + relayed[0],
            "bytes_in": stats.bytes_in + relayed[1],
            "frames_out": stats.frames_out + relayed[2],
            "bytes_out": stats.bytes_out + relayed[3],
            "client_close_code": client_code,
            "client_close_reason": stats.client_close[1] if stats.client_close else None,
            "upstream_close_code": upstream_close[0] if upstream_close else None,
            "upstream_close_reason": upstream_close[1] if upstream_close else None,
            "closed_by": stats.closed_by,
            "resumptions": stats.resumptions,
            **stats.extra,
        }
        self.route.emit(record, self.collect)

