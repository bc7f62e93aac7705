"""One gateway request, end to end: cache → rate limit → steps with retries and timeouts →
provider → loggers. Shared by the WebSocket API and the HTTP surfaces.

The surface that received the request hands in a `GatewayRequest` and a `Sink` that knows how
to answer on its transport; the pipeline decides what the answer is. Everything here is plain
awaits on objects resolved at start-up (no plugin-manager calls).

Order note: the cache is consulted before the rate limiter because cache hits skip rate
limiting (Cloudflare's documented behaviour); ARCHITECTURE.md lists them the other way round.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from aigw.errors import AigwError, InvalidProvider, ProviderFailed, RateLimited, RequestTimeout
from aigw.interfaces import Cache, Logger, Provider, RateLimiter
from aigw.logrecords import collect_flags, new_log_id, parse_metadata_header
from aigw.options import RetryPolicy, cache_policy, retry_policy
from aigw.types import CachedResponse, Call, Framing, LogRecord, Usage
from aigw.upstream.errors import FirstByteTimeout, UpstreamError
from aigw.validation import checked_step_headers


class ProviderCredentialsMissing(AigwError):
    """The client sent no provider key and the gateway stores none for that provider."""

    status, code = 400, 2011


@dataclass(slots=True)
class StepRequest:
    """One step as received: the provider call plus its optional `config` object."""

    provider: str
    endpoint: str
    headers: Mapping[str, Any]
    body: bytes
    stream: bool = False
    model: str | None = None
    config: Mapping[str, Any] | None = None
    method: str = "POST"
    query: str = ""


@dataclass(slots=True)
class GatewayRequest:
    """Everything the pipeline needs to know about one request."""

    gateway: str
    request_type: str  # "websocket" | "universal" | "provider" | "compat"
    event_id: str
    steps: Sequence[StepRequest]
    headers: Mapping[str, str] = field(default_factory=dict)  # request-level, lowercase names
    log_id: str | None = None  # chosen by the surface when it must name the request early; else new
    #: Who sent it (the client connection): its requests share one owner's part of each
    #: provider host's upstream pool (`[upstream] max_connections_per_client`). None: no cap.
    owner: Any = None


@dataclass(slots=True)
class Answer:
    """What a sink is asked to deliver. `metadata` follows the Universal API contract."""

    metadata: dict[str, Any]
    status: int
    content_type: str
    headers: Sequence[tuple[str, str]] = ()


@dataclass(slots=True)
class RelayOutcome:
    """What a sink reports after relaying a stream."""

    first: list[bytes]
    last: list[bytes]
    events: int = 0
    error: AigwError | None = None  # the stream broke after it started
    response_bytes: bytes | None = None  # collected body for the log, when asked for
    usage: Usage | None = None  # read once by the sink from `first`/`last` (it reports it too)


class Sink(Protocol):
    """How a surface answers. Exactly one of deliver/fail/relay is called per request, except
    that relay may be followed by nothing else: it sends its own end."""

    def deliver(self, answer: Answer, body: bytes) -> None:
        """A whole answer: a provider response (success or error) or a cache hit."""

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error before any output."""

    async def relay(self, answer: Answer, response: Any, framing: Framing, provider: Provider, collect: bool) -> RelayOutcome:
        """Relay a streamed upstream response; send the end (or the mid-stream error)."""


@dataclass(slots=True)
class GatewayPolicy:
    """A gateway's settings as the request path reads them."""

    name: str
    collect_logs: bool = True
    cache_ttl: int = 0
    rate_limit: int = 0
    rate_interval: float = 60.0
    rate_technique: str = "sliding"
    retry: RetryPolicy = field(default_factory=RetryPolicy)


class KeyStore(Protocol):
    def lookup(self, provider: str, alias: str | None) -> str | None:
        """The stored key for `provider` under `alias` (None: the default alias), or None.
        Raises ByokAliasNotFound for a named alias that does not exist."""


@dataclass(slots=True)
class Runtime:
    """The objects the request path uses, resolved once at start-up."""

    providers: Mapping[str, Provider]
    keys: KeyStore
    client: Any  # aigw.upstream.UpstreamClient
    cache: Cache | None = None
    limiter: RateLimiter | None = None
    loggers: Sequence[Logger] = ()


def cache_key(provider: str, endpoint: str, body: bytes) -> str:
    """The default cache key: provider, endpoint and body, hashed."""
    h = hashlib.sha256()
    for part in (provider.encode(), b"\0", endpoint.encode(), b"\0", body):
        h.update(part)
    return h.hexdigest()


def _metadata(req: GatewayRequest, log_id: str, step: int, content_type: str, status: int, cache: str = "MISS") -> dict[str, Any]:
    return {
        "cacheStatus": cache,
        "eventId": req.event_id,
        "logId": log_id,
        "step": str(step),
        "contentType": content_type,
        "status": status,
    }


def media_type(content_type: str) -> str:
    """`text/event-stream; charset=utf-8` → `text/event-stream` (metadata names the bare type)."""
    return content_type.split(";", 1)[0].strip().lower()


def _header(resp: Any, name: str) -> str:
    value = resp.headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value or ""


def _response_headers(resp: Any) -> dict[str, str]:
    return {
        (k.decode("latin-1") if isinstance(k, bytes) else k).lower(): (v.decode("latin-1") if isinstance(v, bytes) else v)
        for k, v in getattr(resp, "raw_headers", ())
    }


async def run(rt: Runtime, gw: GatewayPolicy, req: GatewayRequest, sink: Sink) -> LogRecord:
    """Run `req` to completion, answering through `sink`, and return its log record (already
    handed to the loggers). Cancellation propagates after the record is logged with
    `cancelled=True`; the caller tells its client."""
    started = time.monotonic()
    log_id = req.log_id or new_log_id()
    headers = {k.lower(): v for k, v in req.headers.items()}
    first = req.steps[0]
    # Logging options are per request: the first step's own `cf-aig-*` headers (where a
    # WebSocket client puts per-request options) override the request-level ones.
    log_options = {**headers, **_gateway_options(first.headers)}
    record = LogRecord(
        log_id=log_id,
        created_at=time.time(),
        gateway=gw.name,
        request_type=req.request_type,
        event_id=req.event_id,
        provider=first.provider,
        model=first.model,
        endpoint=first.endpoint,
        stream=first.stream,
        metadata=parse_metadata_header(log_options.get("cf-aig-metadata")),
    )
    collect, collect_payload = collect_flags(gw.collect_logs, log_options)
    if collect and collect_payload:
        record.request_body = first.body
        record.request_content_type = "application/json"
    try:
        await _run_steps(rt, gw, req, headers, sink, record, collect_payload)
    except asyncio.CancelledError:
        record.cancelled = True
        record.error = "cancelled"
        raise
    except AigwError as err:
        record.status, record.error, record.success = err.status, err.message, False
        sink.fail(Answer(_metadata(req, log_id, record.step or 0, "application/json", err.status), err.status, "application/json"), err)
    finally:
        record.duration_ms = (time.monotonic() - started) * 1000.0
        if collect:
            for logger in rt.loggers:
                logger.log(record)
    return record


async def _run_steps(
    rt: Runtime, gw: GatewayPolicy, req: GatewayRequest, headers: dict[str, str], sink: Sink, record: LogRecord, collect_payload: bool
) -> None:
    # Resolve every step before touching the network: an unknown provider or a bad option is
    # the client's mistake, reported at once.
    plans = []
    for index, step in enumerate(req.steps):
        provider = rt.providers.get(step.provider)
        if provider is None:
            raise InvalidProvider(f"unknown provider {step.provider!r} in step {index}")
        step_headers = checked_step_headers(headers, step.headers, step.endpoint, f"step {index}")
        policy = retry_policy(gw.retry, step_headers, step.config)
        caching = cache_policy(gw.cache_ttl, step_headers)
        key = None
        if not provider.has_client_auth(step_headers):
            key = rt.keys.lookup(step.provider, step_headers.get("cf-aig-byok-alias"))
            if key is None:
                raise ProviderCredentialsMissing(
                    f"step {index}: no {step.provider} credentials: send the provider's auth header "
                    f"or store a key under [providers.{step.provider}] key"
                )
        call = Call(step.provider, step.endpoint, step.body, step_headers, step.query, step.method, step.stream, step.model)
        plans.append((index, provider, call, policy, caching, key))

    # Cache hits skip rate limiting.
    index, provider, call, _, caching, _ = plans[0]
    # Only a request that caches (a TTL from the gateway or cf-aig-cache-ttl, or a cache key)
    # looks the cache up: with caching off there is nothing to find, and the key costs a hash
    # of the body.
    if rt.cache is not None and not caching.skip and not call.stream and (caching.ttl > 0 or caching.key):
        hit = await rt.cache.get(caching.key or cache_key(call.provider, call.endpoint, call.body))
        if hit is not None:
            record.cache_status, record.status, record.success, record.step = "HIT", hit.status, True, index
            record.response_content_type = hit.content_type
            record.tokens_in, record.tokens_out = _usage_pair(provider.usage_from_body(hit.body))
            if collect_payload:
                record.response_body = hit.body
            meta = _metadata(req, record.log_id, index, hit.content_type, hit.status, cache="HIT")
            sink.deliver(Answer(meta, hit.status, hit.content_type, hit.headers), hit.body)
            return

    if rt.limiter is not None and gw.rate_limit > 0:
        decision = await rt.limiter.hit(f"gateway:{gw.name}", gw.rate_limit, gw.rate_interval, gw.rate_technique)
        if not decision.allowed:
            raise RateLimited(f"rate limit of {gw.rate_limit} requests per {gw.rate_interval:g}s exceeded")

    last_error: AigwError | None = None
    last_answer: tuple[int, Provider, Any, bytes] | None = None
    for index, provider, call, policy, caching, key in plans:
        record.step, record.provider, record.model, record.endpoint = index, call.provider, call.model, call.endpoint
        upstream = provider.build_request(call, key)
        timeout = policy.request_timeout_ms / 1000.0 if policy.request_timeout_ms else None
        retry_after = None
        for attempt in range(1, policy.max_attempts + 1):
            delay = max(policy.delay_before(attempt), retry_after or 0.0) if attempt > 1 else 0.0
            if delay:
                await asyncio.sleep(min(delay, 60.0))
            sent = time.monotonic()
            try:
                resp = await rt.client.request(upstream.method, upstream.url, upstream.headers, upstream.body, first_byte_timeout=timeout, owner=req.owner)
            except FirstByteTimeout:
                last_error = RequestTimeout(f"step {index}: {call.provider} sent nothing within {policy.request_timeout_ms} ms")
                retry_after = None
                continue
            except UpstreamError as exc:
                last_error = ProviderFailed(f"step {index}: {call.provider}: {exc}")
                retry_after = None
                continue
            record.ttfb_ms = (time.monotonic() - sent) * 1000.0
            status = resp.status
            content_type = media_type(_header(resp, "content-type"))
            if status >= 400:
                try:
                    body = await resp.read()
                except UpstreamError as exc:
                    last_error = ProviderFailed(f"step {index}: {call.provider}: {exc}")
                    continue
                verdict = provider.classify_error(status, _response_headers(resp), body)
                last_answer = (index, provider, resp, body)
                last_error = None
                retry_after = verdict.retry_after
                if verdict.retryable and attempt < policy.max_attempts:
                    continue
                break  # fall back to the next step
            record.status, record.success = status, True
            record.response_content_type = content_type
            framing = provider.framing(call, status, content_type)
            meta = _metadata(req, record.log_id, index, content_type, status)
            if call.stream and framing in (Framing.SSE, Framing.NDJSON):
                try:
                    outcome = await sink.relay(Answer(meta, status, content_type), resp, framing, provider, collect_payload)
                finally:
                    resp.close()  # however the relay ended (cancelled while paused, client gone): free the connection now
                record.tokens_in, record.tokens_out = _usage_pair(outcome.usage)
                if collect_payload:
                    record.response_body = outcome.response_bytes
                if outcome.error is not None:
                    record.success, record.error = False, outcome.error.message
                return
            body = await resp.read()
            usage = provider.usage_from_body(body)
            record.tokens_in, record.tokens_out = _usage_pair(usage)
            if usage is not None:
                meta["usage"] = {"tokensIn": usage.tokens_in, "tokensOut": usage.tokens_out}
            if collect_payload:
                record.response_body = body
            sink.deliver(Answer(meta, status, content_type), body)
            if rt.cache is not None and caching.ttl > 0 and 200 <= status < 300:
                cached = CachedResponse(status, content_type, body)
                await rt.cache.set(caching.key or cache_key(call.provider, call.endpoint, call.body), cached, caching.ttl)
            return

    # Every step failed. An upstream error answer is relayed as is (the last one); otherwise
    # the gateway reports why nothing answered.
    if last_answer is not None and last_error is None:
        index, provider, resp, body = last_answer
        content_type = media_type(_header(resp, "content-type")) or "application/json"
        record.step, record.status, record.success = index, resp.status, False
        record.response_content_type = content_type
        if collect_payload:
            record.response_body = body
        sink.deliver(Answer(_metadata(req, record.log_id, index, content_type, resp.status), resp.status, content_type), body)
        return
    raise last_error or ProviderFailed("no step produced an answer")


def _gateway_options(step_headers: Mapping[str, Any] | None) -> dict[str, str]:
    """A step's string-valued `cf-aig-*` headers, names lowercased (others are checked later)."""
    return {
        str(k).lower(): v
        for k, v in (step_headers or {}).items()
        if isinstance(v, str) and str(k).lower().startswith("cf-aig-")
    }


def _usage_pair(usage: Usage | None) -> tuple[int | None, int | None]:
    return (usage.tokens_in, usage.tokens_out) if usage is not None else (None, None)


__all__ = [
    "Answer",
    "GatewayPolicy",
    "GatewayRequest",
    "ProviderCredentialsMissing",
    "RelayOutcome",
    "Runtime",
    "Sink",
    "StepRequest",
    "cache_key",
    "run",
]
