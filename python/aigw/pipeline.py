"""One gateway request, end to end: cache → rate limit → steps with retries and timeouts →
provider → loggers. Shared by the WebSocket API and the HTTP surfaces. The request model (what
a surface hands in, the Sink it answers through) is aigw.request_model, re-exported here.

The surface that received the request hands in a `GatewayRequest` and a `Sink` that knows how
to answer on its transport; the pipeline decides what the answer is. Everything here is plain
awaits on objects resolved at start-up (no plugin-manager calls).

Failure rules (docs/websocket-api.md "Retries, fallbacks and timeouts"):
  * Anything that goes wrong before the client was sent a byte of the answer (no connection,
    a timeout to the first byte, a reset or a malformed/oversized/truncated body while reading a
    whole answer, a stream that ends or stalls before its first byte) is an upstream failure:
    the step is retried while attempts remain, then the next step is tried; when every step
    failed the answer is 502 (2005), or 504 (2007) when the last failure was a timeout.
  * An error answer (status >= 400) is retried when the provider calls it retryable, except the
    client-side statuses in NEVER_RETRIED (context length, content filter, bad key ...), which
    go straight to the next step. `Retry-After` is waited for, up to MAX_RETRY_AFTER seconds;
    a longer one falls back at once. When every step answered with an error, the last error
    answer is relayed as it came.
  * A stream that breaks after it started (reset, malformed event, a missing terminator such as
    OpenAI's `[DONE]`, silence longer than the stream-idle timeout) ends with an error the client
    sees (`universal.done` with `metadata.error`) and a failed log row; it cannot be retried.
  * The log row names the step that answered (or the last one tried), the body sent to it, its
    usage only, and one `Attempt` per upstream try.

Order note: the cache is consulted before the rate limiter because cache hits skip rate
limiting (Cloudflare's documented behaviour); ARCHITECTURE.md lists them the other way round.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any, Coroutine, Mapping, NamedTuple, Sequence

from aigw import _codec
from aigw.errors import AigwError, ProviderFailed, RateLimited, RequestTimeout
from aigw.interfaces import Provider
from aigw.observe.request_notes import note_request
from aigw.request_model import (
    Answer, GatewayPolicy, GatewayRequest, KeyStore, RelayOutcome, Runtime, Sink, StepPlan, StepRequest,
    make_answer, make_gateway_request, make_step_request,
)  # fmt: skip
from aigw.logrecords import collect_flags, is_secret_header, new_log_id, parse_metadata_header
from aigw.memo import Memo
from aigw.providers import _FRAMINGS, _USUAL_BUILD, Overrides
from aigw.slots_maker import maker, slot_writer
from aigw.options import CachePolicy, RetryPolicy
from aigw.types import Attempt, CachedResponse, Call, ErrorClass, Framing, LogRecord, UpstreamRequest, Usage
from aigw.upstream import client as upstream_client
from aigw.upstream.client import UpstreamClient
from aigw.upstream.errors import FirstByteTimeout, TotalTimeout, UpstreamError
from aigw.upstream.response import UpstreamResponse
from aigw.upstream_chunks import StreamFailed, StreamIdleTimeout, UpstreamChunks, relay_chunks
from aigw.step_plans import _USUAL_PLAN, ProviderCredentialsMissing, _usual_plan, plan_steps
from aigw.validation import CheckedHeaders

log = logging.getLogger("aigw.pipeline")

#: Error statuses that are the request's own fault: retrying the same step cannot help (it may
#: still fall back to another step, e.g. a model with a longer context).
NEVER_RETRIED = frozenset({400, 401, 403, 404, 413, 422})
#: The longest Retry-After (or backoff delay) waited for before retrying the same step; a longer
#: Retry-After makes the step fall back at once.
MAX_RETRY_AFTER = 60.0


# ---- cache keys -----------------------------------------------------------------------------


def _digest(parts: Sequence[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))  # length-prefixed: no part can mimic a boundary
        h.update(part)
    return h.hexdigest()


def credential_scope(headers: Mapping[str, str], stored_key: str | None, principal: str | None) -> bytes:
    """Who could have obtained an answer, as cache-key material (never the secret itself):
    the hash of the credential headers the client sends to the provider, or, when the gateway
    injects a stored key, the gateway principal (or, unknown, a hash of that stored key)."""
    if stored_key is not None:
        if principal:
            return b"principal\0" + principal.encode()
        return b"stored\0" + hashlib.sha256(stored_key.encode()).hexdigest().encode()
    creds = sorted(
        (k, v) for k, v in headers.items() if is_secret_header(k) and not k.startswith("cf-aig-")
    )
    return b"client\0" + _digest([f"{k}\0{v}".encode("utf-8", "surrogatepass") for k, v in creds]).encode()


def request_cache_key(plans: Sequence[StepPlan], principal: str | None = None) -> str:
    """The default cache key of a request as a whole: every step's provider, method, endpoint,
    query, body and credential scope, hashed. Looked up before the first step and stored by
    whichever step answers, so a fallback's answer is found again by the same request."""
    parts: list[bytes] = []
    for p in plans:
        c = p.call
        scope = credential_scope(c.headers, p.key, principal)
        parts += [c.provider.encode(), c.method.encode(), c.endpoint.encode(), c.query.encode(), c.body, scope]
    return _digest(parts)


# ---- the objects every request makes ---------------------------------------------------------


#: The pipeline's own objects per request, each built in one native call (aigw.slots_maker;
#: the request model's are in aigw.request_model).
_make_record, _make_attempt, _make_usage = map(maker, (LogRecord, Attempt, Usage))


# ---- run --------------------------------------------------------------------------------------


def _answer(
    req: GatewayRequest, log_id: str, step: int, content_type: str, status: int, headers: Sequence[tuple[str, str]] = (), cache: str = "MISS",
    usage: Usage | None = None,
) -> Answer:
    return make_answer(req.event_id, log_id, step, status, content_type, cache, usage, headers)


def _bare_media_type(content_type: str) -> str:
    """`text/event-stream; charset=utf-8` → `text/event-stream` (metadata names the bare type)."""
    return content_type.split(";", 1)[0].strip().lower()


#: `_bare_media_type`, remembered: a gateway meets few content types (the request path subscripts it).
_MEDIA_TYPES: Memo[str, str] = Memo(_bare_media_type, 256)


def _header(resp: Any, name: str) -> str:
    value = resp.headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value or ""


def _raw_headers(resp: Any) -> Sequence[tuple[Any, Any]]:
    """The upstream response's header fields as received (bytes pairs; no copy: only a
    pass-through surface reads them)."""
    return getattr(resp, "raw_headers", ())


def _response_headers(resp: Any) -> dict[str, str]:
    return {
        (k.decode("latin-1") if isinstance(k, bytes) else k).lower(): (v.decode("latin-1") if isinstance(v, bytes) else v)
        for k, v in getattr(resp, "raw_headers", ())
    }


def run(rt: Runtime, gw: GatewayPolicy, req: GatewayRequest, sink: Sink) -> Coroutine[Any, Any, LogRecord]:
    """Run `req` to completion, answering through `sink`, and return its log record (already
    handed to the loggers): `await run(...)`. Cancellation propagates after the record is
    logged with `cancelled=True`; the caller tells its client. Any other exception is a bug in
    aigw: it propagates after the record is logged as a failed 500.

    A plain function returning the request's coroutine (`_Run.main`): the record is set up
    here, without a coroutine frame of its own that every resumption would pass through. The
    usual request (no option to read) is set up natively (`_usual_run`)."""
    usual = _usual_run(rt, gw, req, sink)
    if usual is not None:
        return usual
    started = time.monotonic()
    log_id = req.log_id or new_log_id()
    if req.headers.__class__ is CheckedHeaders:  # names lowercase already (an HTTP door's)
        headers = req.headers
    else:
        headers = {k.lower(): v for k, v in req.headers.items()} if req.headers else {}
    first = req.steps[0]
    # Logging options are per request: the first step's own `cf-aig-*` headers (where a
    # WebSocket client puts per-request options) override the request-level ones.
    step_headers = first.headers
    if step_headers.__class__ is CheckedHeaders:  # a door's step: its options are the request's
        log_options = headers
    else:
        step_options = _gateway_options(step_headers) if step_headers else None  # none to read: no call
        log_options = {**headers, **step_options} if step_options else headers
    record = _make_record(log_id, time.time(), gw.name, req.request_type, req.event_id, first.provider, first.model, first.endpoint)
    record.stream = first.stream
    if log_options:
        record.metadata = parse_metadata_header(log_options.get("cf-aig-metadata"))
        collect, collect_payload = collect_flags(gw.collect_logs, log_options)
    else:  # the usual request names no option: the gateway's defaults
        collect = collect_payload = gw.collect_logs
    if collect and collect_payload:
        if step_headers.__class__ is CheckedHeaders:  # lowercase names, text values
            content_type = step_headers.get("content-type", "")
        else:
            content_type = _client_header(step_headers, "content-type") if step_headers else ""
        media_type = record.request_content_type = _MEDIA_TYPES[content_type] or "application/json"
        # keep_request_body, inline (every logged request), on a record whose body fields are unset
        if _TEXTUAL[media_type]:
            record.request_body = first.body
        else:
            record.request_body_size = len(first.body)
    return _new_run(rt, gw, req, headers, sink, record, collect_payload).main(log_options, collect, started)


def _textual(content_type: str | None) -> bool:
    if not content_type:
        return True
    return (
        content_type.startswith("text/")
        or content_type.endswith(("json", "+xml", "/xml", "ndjson", "x-www-form-urlencoded"))
    )


#: Media types whose bodies are kept in the log as they are (text a person can read); any
#: other body (audio, images, archives) is logged by size and content type only.
_TEXTUAL: Memo[str | None, bool] = Memo(_textual, 256)


def keep_request_body(record: LogRecord, body: bytes) -> None:
    """Collect a request body for the log: the body itself when it is text (JSON, forms), else
    only its size (`request_body_size`) beside its content type."""
    if _TEXTUAL[record.request_content_type]:
        record.request_body, record.request_body_size = body, None
    else:
        record.request_body, record.request_body_size = None, len(body)


def keep_response_body(record: LogRecord, body: bytes | None) -> None:
    """The response-side `keep_request_body` (by `response_content_type`)."""
    if body is None or _TEXTUAL[record.response_content_type]:
        record.response_body, record.response_body_size = body, None
    else:
        record.response_body, record.response_body_size = None, len(body)


def _client_header(headers: Mapping[str, Any], name: str) -> str:
    """A header of a client's step (any case of name), as text; "" when absent."""
    if not headers:
        return ""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if str(k).lower() == name), None)
    return value if isinstance(value, str) else ""


def _streams(sink: Sink, call: Call, framing: Framing) -> bool:
    """Whether a successful answer is relayed as it arrives rather than read whole: an event
    stream the client asked for, an AWS event stream (always a stream), or, for a sink that
    passes bodies through (HTTP), anything but a JSON document (audio, images, streams)."""
    if framing is Framing.JSON:
        return False
    if framing is Framing.EVENTSTREAM or getattr(sink, "passes_through", False):
        return True
    return call.stream and framing in (Framing.SSE, Framing.NDJSON)


def expected_terminator(provider: Provider, call: Call) -> bytes | None:
    """The payload that must end `call`'s stream (None: the stream just ends). A provider with
    a `stream_terminator` may say per call that it does not send one
    (`expects_stream_terminator(call) -> bool`, e.g. OpenAI's Responses API)."""
    terminator = provider.stream_terminator
    check = getattr(provider, "expects_stream_terminator", None)
    if terminator is not None and check is not None and not check(call):
        return None
    return terminator


class _Run:
    """The step loop of one request; holds what the final answer is built from. Made by
    `_new_run(rt, gw, req, headers, sink, record, collect)` (one native call; see below)."""

    __slots__ = ("rt", "gw", "req", "headers", "sink", "record", "collect", "last_error", "last_answer")

    rt: Runtime
    gw: GatewayPolicy
    req: GatewayRequest
    headers: dict[str, str]
    sink: Sink
    record: LogRecord
    collect: bool
    last_error: AigwError | None  # the last failure without an answer
    last_answer: tuple[int, Any, bytes] | None  # (step, response, body) of the last error answer

    async def main(self, log_options: Mapping[str, str], collect: bool, started: float) -> LogRecord:
        """The request, start to end (see `run`). The step loop is inline: every coroutine
        level here is passed through again each time the request resumes."""
        rt, gw, req, record = self.rt, self.gw, self.req, self.record
        try:
            if log_options:
                note_request(record, log_options, req.principal)  # issue 13: custom cost, trace context
            else:
                record.principal = req.principal
            # The usual request's plan natively (None for any other: plan_steps then).
            plans = _usual_plan(rt, gw, req, self.headers) or plan_steps(rt, gw, req, self.headers)
            # The cache policy is the request's (its first step's options); the key covers the
            # request as a whole, so lookup and store agree whichever step answers.
            caching = plans[0].caching
            store_key: str | None = None
            if rt.cache is not None and not plans[0].call.stream and (caching.ttl > 0 or bool(caching.key)):
                store_key = caching.key or request_cache_key(plans, req.principal)
                if not caching.skip and await self._answer_from_cache(plans[0], store_key):
                    return record
            if rt.limiter is not None and gw.rate_limit > 0:
                decision = await rt.limiter.hit(f"gateway:{gw.name}", gw.rate_limit, gw.rate_interval, gw.rate_technique)
                if not decision.allowed:
                    raise RateLimited(f"rate limit of {gw.rate_limit} requests per {gw.rate_interval:g}s exceeded")
            for plan in plans:
                if await self._run_step(plan, store_key if caching.ttl > 0 else None, caching.ttl):
                    break
            else:
                self._every_step_failed()
        except BaseException as exc:
            self._ended_by(exc)
        finally:
            self._finish(collect, started)
        return record

    async def resumed(self, plan: StepPlan, sent: _Sent, collect: bool, started: float) -> LogRecord:
        """`main` from its first attempt's wait for the upstream's head on: the usual request
        whose set-up, plan and first request the native path (`_USUAL_MAIN`) ran and whose
        answer it hands back (an error answer, a stream, a failed exchange, an exception
        thrown into it while it waited)."""
        try:
            if not await self._run_step(plan, None, 0, sent):
                self._every_step_failed()
        except BaseException as exc:
            self._ended_by(exc)
        finally:
            self._finish(collect, started)
        return self.record

    def failed_natively(self, resp: Any, attempt: Attempt, attempt_started: float, exc: BaseException, collect: bool, started: float) -> LogRecord:
        """`main`'s way with `exc`, raised in the native path (`_USUAL_MAIN`) once its first
        attempt had begun (writing the request, or delivering the usual answer `resp`): the
        response closed and the attempt timed as `_run_step` does, then `_ended_by` and
        `_finish`."""
        try:
            try:
                if resp is not None:
                    resp.close()
                raise exc
            finally:
                attempt.duration_ms = (time.monotonic() - attempt_started) * 1000.0
        except BaseException as err:
            self._ended_by(err)
        finally:
            self._finish(collect, started)
        return self.record

    def _ended_by(self, exc: BaseException) -> None:
        """How a request that raised `exc` ends: a gateway error is the client's answer
        (through the sink); cancellation and anything else (a bug: a 500 in the record) are
        noted in the record and raised again."""
        record = self.record
        if isinstance(exc, asyncio.CancelledError):
            record.cancelled = True
            record.error = "cancelled"
            raise exc
        if isinstance(exc, AigwError):
            record.status, record.error, record.success = exc.status, exc.message, False
            self.sink.fail(_answer(self.req, record.log_id, record.step or 0, "application/json", exc.status), exc)
            return
        if isinstance(exc, Exception):
            record.status, record.success = 500, False
            record.error = f"internal error: {exc.__class__.__name__}"
        raise exc

    def _finish(self, collect: bool, started: float) -> None:
        """Every request's end: its duration, the observers, then (when it is logged) the
        loggers."""
        record = self.record
        record.duration_ms = (time.monotonic() - started) * 1000.0
        for observer in self.rt.observers:  # issue 13: before the loggers, so the cost is logged
            observer.observe(record)
        if collect:
            for logger in self.rt.loggers:
                logger.log(record)

    async def _answer_from_cache(self, plan: StepPlan, key: str) -> bool:
        hit = await self.rt.cache.get(key)  # type: ignore[union-attr]
        if hit is None:
            return False
        record = self.record
        record.cache_status, record.status, record.success, record.step = "HIT", hit.status, True, plan.index
        record.response_content_type = hit.content_type
        record.tokens_in, record.tokens_out = _usage_pair(plan.provider.usage_from_body(hit.body))
        if self.collect:
            keep_response_body(record, hit.body)
        answer = _answer(self.req, record.log_id, plan.index, hit.content_type, hit.status, hit.headers, cache="HIT")
        self.sink.deliver(answer, hit.body)
        return True

    async def _run_step(self, plan: StepPlan, store_key: str | None, ttl: int, sent: _Sent | None = None) -> bool:
        """Try one step up to its attempts; True when the request was answered. `sent`: the
        first attempt, already made and its request written (`resumed`).

        An attempt awaits the upstream's head here, then takes a whole answer that is already
        in (the common non-streamed success) without another coroutine; errors, streams and
        bodies still on their way go through `_rest_of_answer`."""
        record, call, policy, client = self.record, plan.call, plan.retry, self.rt.client
        if sent is None:
            record.step, record.provider, record.model, record.endpoint = plan.index, call.provider, call.model, call.endpoint
            upstream = plan.provider.build_request(call, plan.key)
            if plan.overrides.prepare:
                upstream = await plan.provider.prepare(upstream, call, plan.key, client)  # type: ignore[attr-defined]
            if self.collect and upstream.body is not record.request_body:
                keep_request_body(record, upstream.body)  # the body this step actually sends
        else:
            upstream = sent.upstream
        first_byte_ms = policy.request_timeout_ms or (self.gw.stream_first_byte_timeout_ms if call.stream else 0)
        first_byte_timeout = first_byte_ms / 1000.0 if first_byte_ms else None
        retry_after: float | None = None
        for number in range(1, policy.max_attempts + 1):
            if sent is None:
                if number > 1:
                    delay = max(policy.delay_before(number), retry_after or 0.0)
                    if delay:
                        await asyncio.sleep(min(delay, MAX_RETRY_AFTER))
                attempt = _make_attempt(plan.index, number, call.provider, call.model, 0, None, 0.0, time.time())
                record.attempts.append(attempt)
                started = time.monotonic()
            else:
                attempt, started = sent.attempt, sent.started
            try:
                try:
                    if sent is None:
                        resp = await client.request(
                            upstream.method,
                            upstream.url,
                            upstream.headers,
                            upstream.body,
                            first_byte_timeout=first_byte_timeout,
                            owner=self.req.owner,
                        )
                    else:  # the first attempt, made natively: its answer as request returns it
                        first, sent = sent, None
                        resp = await client.sent(
                            first.connection, first.waiter, first.thrown, upstream.method, upstream.url, upstream.headers, upstream.body, first_byte_timeout, self.req.owner
                        )
                except UpstreamError as exc:
                    verdict = self._failed(attempt, _request_error(plan, exc, first_byte_ms))
                else:
                    try:
                        record.ttfb_ms = (time.monotonic() - started) * 1000.0
                        # The usual answer (whole, JSON, nothing to store) is read, logged and
                        # delivered natively; anything else by _whole_answer and what follows.
                        head = None if store_key is None and _deliver_whole(self, plan, resp, attempt) else self._whole_answer(plan, resp, attempt, store_key)
                        verdict = None if head is None else await self._rest_of_answer(plan, resp, attempt, head, store_key, ttl)
                    except BaseException:
                        resp.close()  # the connection is released now
                        raise
                    # close() is a no-op for our own response answered whole (read_now took
                    # all of it): not called then; else it releases the connection
                    if head is not None or resp.__class__ is not UpstreamResponse:
                        resp.close()
            finally:
                attempt.duration_ms = (time.monotonic() - started) * 1000.0
            if verdict is None:
                return True
            if not verdict.retryable:
                break
            retry_after = verdict.retry_after
        return False

    def _whole_answer(self, plan: StepPlan, resp: Any, attempt: Attempt, store_key: str | None) -> _Head | None:
        """Deliver a successful, non-streamed answer whose body is all here and return None
        (answered); otherwise the head as read, for `_rest_of_answer` (an error answer, a
        stream, a body still arriving, an answer to store in the cache)."""
        status = attempt.status = resp.status
        # The gateway's own client's response, read as attributes; another client's (a plugin's,
        # a test's) may lack them.
        own = resp.__class__ is UpstreamResponse
        # UpstreamResponse's content_type (read in Rust); another client's response's header
        content_type = _MEDIA_TYPES[resp.content_type if own else (getattr(resp, "content_type", None) or _header(resp, "content-type"))]
        if status >= 400:
            return _Head(status, content_type, None, False)
        # HttpProvider.framing, inline unless the class has its own
        framing = plan.provider.framing(plan.call, status, content_type) if plan.overrides.framing else _FRAMINGS[content_type]
        streams = framing is not Framing.JSON and _streams(self.sink, plan.call, framing)  # JSON: never
        if not streams and store_key is None:
            read_now = resp.read_now if own else getattr(resp, "read_now", None)
            body = read_now() if read_now is not None else None
            if body is not None:
                self._deliver(plan, resp, status, content_type, body)
                return None
        return _Head(status, content_type, framing, streams)

    async def _rest_of_answer(
        self, plan: StepPlan, resp: Any, attempt: Attempt, head: _Head, store_key: str | None, ttl: int
    ) -> ErrorClass | None:
        """What `_whole_answer` left: None when the request was answered (maybe by a stream
        that broke); otherwise whether the same step may be tried again, and after how long."""
        status, content_type, framing, streams = head
        if framing is None:
            return await self._error_answer(plan, resp, attempt)
        if streams:
            return await self._stream(plan, resp, attempt, status, content_type, framing)
        try:
            body = await resp.read()
        except UpstreamError as exc:
            return self._failed(attempt, _body_error(f"step {plan.index}", plan.call.provider, exc))
        self._deliver(plan, resp, status, content_type, body)
        if store_key is not None and 200 <= status < 300:
            await self.rt.cache.set(store_key, CachedResponse(status, content_type, body), ttl)  # type: ignore[union-attr]
        return None

    def _deliver(self, plan: StepPlan, resp: Any, status: int, content_type: str, body: bytes) -> None:
        """Log and deliver a whole (non-error) answer."""
        provider, record, overrides = plan.provider, self.record, plan.overrides
        if overrides.usage_from_body or body.__class__ is not bytes:
            usage = provider.usage_from_body(body)
        else:  # HttpProvider.usage_from_body, inline
            pair = _codec.openai_usage(body)
            usage = None if pair is None else _make_usage(*pair)
        if usage is None and overrides.usage_from_headers:  # e.g. Bedrock's token-count headers
            usage = provider.usage_from_headers(resp.headers)  # type: ignore[attr-defined]
        record.status, record.success, record.error = status, True, None
        record.response_content_type = content_type
        if usage is None:
            record.tokens_in = record.tokens_out = None
        else:
            record.tokens_in, record.tokens_out = usage.tokens_in, usage.tokens_out
        headers = resp.headers if resp.__class__ is UpstreamResponse else _raw_headers(resp)
        answer = make_answer(self.req.event_id, record.log_id, plan.index, status, content_type, "MISS", usage, headers)  # _answer, inline
        if self.collect:
            # keep_response_body, inline (every logged whole answer)
            if _TEXTUAL[content_type]:
                record.response_body, record.response_body_size = body, None
            else:
                record.response_body, record.response_body_size = None, len(body)
        self.sink.deliver(answer, body)

    def _failed(self, attempt: Attempt, error: AigwError) -> ErrorClass:
        """An upstream failure before the client saw anything: retry, then fall back."""
        attempt.error = error.message
        self.last_error, self.last_answer = error, None
        return ErrorClass(retryable=True)

    async def _error_answer(self, plan: StepPlan, resp: Any, attempt: Attempt) -> ErrorClass:
        label, status = f"step {plan.index}", resp.status
        try:
            body = await resp.read()
        except UpstreamError as exc:
            return self._failed(attempt, _body_error(label, plan.call.provider, exc))
        verdict = plan.provider.classify_error(status, _response_headers(resp), body)
        attempt.error = f"upstream answered {status}"
        self.last_error, self.last_answer = None, (plan.index, resp, body)
        if status in NEVER_RETRIED:
            verdict.retryable = False  # the request's own fault: another try cannot help
        if verdict.retry_after is not None and verdict.retry_after > MAX_RETRY_AFTER:
            verdict.retryable = False  # too long to hold the client: fall back instead
        return verdict

    async def _stream(self, plan: StepPlan, resp: Any, attempt: Attempt, status: int, content_type: str, framing: Framing) -> ErrorClass | None:
        record, call, policy, label = self.record, plan.call, plan.retry, f"step {plan.index}"
        idle_ms = policy.stream_idle_timeout_ms
        chunks = UpstreamChunks(resp, idle_ms / 1000.0 if idle_ms else None, label)
        # Nothing has reached the client until the first chunk is relayed: a stream that fails
        # or ends before it is retried and failed over like any other upstream failure.
        try:
            started = await chunks.prefetch()
        except AigwError as err:
            return self._failed(attempt, err)
        if not started:
            return self._failed(attempt, ProviderFailed(f"{label}: {call.provider} ended its stream before sending anything"))
        record.status, record.response_content_type = status, content_type
        answer = _answer(self.req, record.log_id, plan.index, content_type, status, _raw_headers(resp))
        outcome = await self.sink.relay(answer, chunks, framing, plan.provider, self.collect)
        error = outcome.error
        terminator = expected_terminator(plan.provider, call) if framing in (Framing.SSE, Framing.NDJSON) else None
        if error is None and terminator is not None and not outcome.saw_terminator:
            error = StreamFailed(f"{label}: the upstream stream ended without its terminator {terminator.decode('latin-1')}")
        record.tokens_in, record.tokens_out = _usage_pair(outcome.usage)
        if self.collect:
            keep_response_body(record, outcome.response_bytes)
        record.success = error is None
        record.error = attempt.error = error.message if error is not None else None
        self.sink.end_stream(answer, outcome.usage, error)
        return None

    def _every_step_failed(self) -> None:
        """An upstream error answer is relayed as it came (the last one); otherwise the gateway
        reports why nothing answered."""
        record = self.record
        if self.last_answer is not None and self.last_error is None:
            index, resp, body = self.last_answer
            content_type = _MEDIA_TYPES[getattr(resp, "content_type", None) or _header(resp, "content-type")] or "application/json"
            record.step, record.status, record.success = index, resp.status, False
            record.error = f"every step failed; step {index} answered {resp.status}"
            record.response_content_type = content_type
            if self.collect:
                keep_response_body(record, body)
            self.sink.deliver(_answer(self.req, record.log_id, index, content_type, resp.status, _raw_headers(resp)), body)
            return
        raise self.last_error or ProviderFailed("no step produced an answer")


class _Sent(NamedTuple):
    """A first attempt the native path (`_USUAL_MAIN`) made and whose request it wrote on a
    pooled connection, handed to `_Run.resumed`: `thrown`, an exception thrown into the
    request while it waited for the answer's head."""

    upstream: UpstreamRequest
    connection: Any  # aigw.upstream.connection.Connection
    waiter: asyncio.Future
    attempt: Attempt
    started: float  # time.monotonic() when the attempt began
    thrown: BaseException | None


class _Head(NamedTuple):
    """An upstream answer's head as `_whole_answer` read it, for `_rest_of_answer`."""

    status: int
    content_type: str  # bare media type
    framing: Framing | None  # None: an error answer (status >= 400)
    streams: bool  # relayed as it arrives (see `_streams`)


#: `_whole_answer` then `_deliver` for the usual answer, in one native call (True: delivered;
#: False: nothing changed, the Python path takes it): rust/src/python/whole_answer.rs.
_WHOLE_ANSWER = _codec.WholeAnswer(
    (_Run, StepPlan, Overrides, UpstreamResponse, Attempt, GatewayRequest, LogRecord), _MEDIA_TYPES, _FRAMINGS, _TEXTUAL, Framing.JSON, make_answer, _make_usage
)
_deliver_whole = _WHOLE_ANSWER.function()

#: `deliver_natively_to(deliverer)`: the usual answer to a sink of exactly the class of
#: `deliverer` written by it (a `_codec.HttpWholeDeliver`, made by
#: aigw.api.http_sink.deliver_natively, with no `Answer` made; a `_codec.WsWholeDeliver`, made
#: by aigw.api.universal_ws) instead of the sink's `deliver`; False when that class has one.
deliver_natively_to = _WHOLE_ANSWER.deliver_natively

#: A request's `_Run`, its two "last" slots None (aigw.slots_maker.slot_writer).
_new_run = slot_writer(_Run, ("rt", "gw", "req", "headers", "sink", "record", "collect"), {"last_error": None, "last_answer": None})

#: `main`, `_run_step` and the upstream client's `request` for the usual request (one step, no
#: stream, cache use or rate limit), as one native awaitable; it hands anything else back to
#: `main` before it has changed anything, or to `resumed` once the request is written:
#: rust/src/python/usual_main.rs.
_USUAL_MAIN = _codec.UsualMain(
    (_Run, Runtime, GatewayPolicy, GatewayRequest, LogRecord, StepPlan, Call, UpstreamRequest, UpstreamClient, Attempt, CachePolicy, RetryPolicy, Overrides),
    (_USUAL_PLAN, upstream_client._EXCHANGE, _WHOLE_ANSWER, _USUAL_BUILD),
    _make_attempt, time.monotonic, time.time, keep_request_body, _Sent,
)

#: `run`'s set-up for a request that names no option (its record, the `_Run`, the awaitable)
#: in one native call; None for any other request: rust/src/python/usual_run.rs.
_usual_run = _codec.UsualRun(
    (GatewayPolicy, GatewayRequest, StepRequest, LogRecord), CheckedHeaders, _MEDIA_TYPES, _TEXTUAL, time.monotonic, time.time, new_log_id, _make_record, _new_run,
    _USUAL_MAIN,
).function()


def _request_error(plan: StepPlan, exc: UpstreamError, first_byte_ms: int) -> AigwError:
    """A try that got no answer: no first byte in time (504), the total deadline (504), or a
    connect error, reset or bad head (502)."""
    label, provider = f"step {plan.index}", plan.call.provider
    if isinstance(exc, FirstByteTimeout):
        within = f"{first_byte_ms} ms" if first_byte_ms else "the upstream client's first-byte timeout"
        return RequestTimeout(f"{label}: {provider} sent nothing within {within}")
    if isinstance(exc, TotalTimeout):
        return RequestTimeout(f"{label}: {provider}: {exc}")
    return ProviderFailed(f"{label}: {provider}: {exc}")


def _body_error(label: str, provider: str, exc: UpstreamError) -> AigwError:
    """An upstream that broke while sending a whole body: a timeout (504) or a failure (502)."""
    if isinstance(exc, TotalTimeout):
        return RequestTimeout(f"{label}: {provider}: {exc}")
    return ProviderFailed(f"{label}: {provider}: the answer broke off: {exc}")


def _gateway_options(step_headers: Mapping[str, Any] | None) -> dict[str, str]:
    """A step's string-valued `cf-aig-*` headers and W3C `traceparent` (an HTTP client's
    trace, which is also passed on to the provider), names lowercased (others are checked
    later)."""
    if step_headers.__class__ is CheckedHeaders:
        return {}  # a door's: its options are the request's (see CheckedHeaders)
    options: dict[str, str] = {}
    if step_headers:
        for k, v in step_headers.items():
            if isinstance(v, str):
                name = str(k).lower()
                if name.startswith("cf-aig-") or name == "traceparent":
                    options[name] = v
    return options


def _usage_pair(usage: Usage | None) -> tuple[int | None, int | None]:
    return (usage.tokens_in, usage.tokens_out) if usage is not None else (None, None)


__all__ = [
    "Answer",
    "GatewayPolicy",
    "GatewayRequest",
    "KeyStore",
    "MAX_RETRY_AFTER",
    "NEVER_RETRIED",
    "ProviderCredentialsMissing",
    "RelayOutcome",
    "Runtime",
    "Sink",
    "StepPlan",
    "StepRequest",
    "StreamFailed",
    "StreamIdleTimeout",
    "UpstreamChunks",
    "credential_scope",
    "expected_terminator",
    "make_answer",
    "make_gateway_request",
    "make_step_request",
    "plan_steps",
    "relay_chunks",
    "request_cache_key",
    "run",
]
