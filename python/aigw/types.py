"""Small value types that cross layer boundaries: calls, upstream requests, usage, log records.

All are slotted dataclasses: cheap to build per request, explicit about their fields.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterable, Mapping


class Framing(str, enum.Enum):
    """How an upstream response body is framed, named by the provider per response."""

    JSON = "json"  # one body, relayed whole
    SSE = "sse"  # text/event-stream, one relayed message per event
    NDJSON = "ndjson"  # application/x-ndjson, one relayed message per line
    EVENTSTREAM = "eventstream"  # application/vnd.amazon.eventstream
    RAW = "raw"  # anything else (audio, images): relayed as bytes


@dataclass(slots=True)
class Call:
    """One provider call: a Universal step, a provider-route request, or a /compat request.

    `headers` hold lowercase names: the provider's own headers (auth, versions) plus the
    per-request `cf-aig-*` options, which never reach the provider.
    """

    provider: str
    endpoint: str  # path under the provider, no leading "/": "chat/completions", "v1/messages"
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: str = ""  # raw query string, without "?"
    method: str = "POST"
    stream: bool = False  # the body asked for a streamed answer
    model: str | None = None


@dataclass(slots=True)
class UpstreamRequest:
    """What the upstream client sends: an absolute URL, headers and a body."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""


@dataclass(slots=True)
class Usage:
    """Tokens a provider reported for one call (None when it did not say)."""

    tokens_in: int | None = None
    tokens_out: int | None = None


@dataclass(slots=True)
class ErrorClass:
    """A provider's verdict on an error answer: may the gateway retry or fall back?"""

    retryable: bool
    retry_after: float | None = None  # seconds, from Retry-After / retry-after-ms / RetryInfo


@dataclass(slots=True)
class Principal:
    """Who a gateway token belongs to."""

    id: str
    name: str | None = None
    gateway: str | None = None


@dataclass(slots=True)
class CachedResponse:
    """A stored answer: enough to replay it byte for byte."""

    status: int
    content_type: str
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class RateDecision:
    """A rate limiter's answer for one request."""

    allowed: bool
    retry_after: float | None = None  # seconds until a request would be allowed
    remaining: int | None = None


@dataclass(slots=True)
class Attempt:
    """One upstream try of one step: what was asked of whom, what came back, how long it took.

    `status` is the upstream's HTTP status (0 when no answer arrived); `error` says why the
    attempt did not answer the request (None for the attempt that answered); `started_at` is
    when it began, unix seconds (None in records stored before it was kept)."""

    step: int
    attempt: int  # 1 = the first try of this step
    provider: str
    model: str | None = None
    status: int = 0
    error: str | None = None
    duration_ms: float = 0.0
    started_at: float | None = None


@dataclass(slots=True)
class LogRecord:
    """One request, as the loggers store it. Provider auth headers never appear here."""

    log_id: str  # UUIDv7, lowercase
    created_at: float  # unix time, seconds
    gateway: str
    request_type: str  # "websocket" | "universal" | "provider" | "compat" | "realtime"
    event_id: str | None = None
    provider: str | None = None
    model: str | None = None
    endpoint: str | None = None
    status: int = 0  # upstream status, or the gateway's own for its errors
    success: bool = False
    step: int | None = None
    cache_status: str = "MISS"  # "HIT" | "MISS"
    stream: bool = False
    cancelled: bool = False
    duration_ms: float = 0.0
    ttfb_ms: float | None = None  # time to the upstream's first byte
    tokens_in: int | None = None
    tokens_out: int | None = None
    metadata: dict[str, str | int | float | bool] | None = None  # cf-aig-metadata, <= 5 flat
    error: str | None = None
    request_content_type: str | None = None
    response_content_type: str | None = None
    request_body: bytes | None = None  # None when payload collection is off
    response_body: bytes | None = None
    #: Size of a collected body that is not kept because it is not text (audio, images): the
    #: log shows its size and content type instead. None otherwise.
    request_body_size: int | None = None
    response_body_size: int | None = None
    #: Every upstream try, in order (retries and fallbacks); empty for cache hits and requests
    #: refused before any upstream call.
    attempts: list[Attempt] = field(default_factory=list)
    #: Realtime sessions only: frames and bytes each way, close codes, who closed, resumptions
    #: (see docs/realtime.md); None for every other request type.
    session: dict[str, Any] | None = None
    # ---- issue 13 (observability): cost, who asked, evaluation, the caller's trace ----
    #: USD for this request (aigw.observe.costs); None when unknown (no usage, unpriced model).
    cost: float | None = None
    #: The client set the per-token prices (`cf-aig-custom-cost`): (USD per token in, out).
    custom_cost: tuple[float, float] | None = None
    principal: str | None = None  # the gateway token's principal id, when authenticated
    feedback: int | None = None  # +1 / -1, set later through the logs API
    score: int | None = None  # 0..100, set later through the logs API
    #: The caller's trace (W3C `traceparent`, or cf-aig-otel-trace-id / -parent-span-id),
    #: lowercase hex: 32 digits and 16 digits; None when the caller sent none.
    trace_id: str | None = None
    parent_span_id: str | None = None


@dataclass(slots=True, frozen=True)
class PluginContext:
    """What a plugin factory receives: its own config section and the gateway's settings."""

    name: str
    config: Mapping[str, Any]
    settings: Any  # aigw.config.Settings
    data_dir: Path


# ---- plugin routes (plugins helper) ----
@dataclass(slots=True)
class HttpRequest:
    """An HTTP request to a plugin route (`register_routes`), with its body read whole.

    `headers` hold lowercase names; the server has already applied its size limits. `params`
    are the route pattern's path parameters; `gateway` and `principal` are who the gateway
    authenticated (None on a `public` route, or a gateway without authentication).
    """

    method: str
    path: str
    query: str = ""  # raw query string, without "?"
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    gateway: str | None = None
    principal: Principal | None = None


@dataclass(slots=True)
class HttpResponse:
    """A plugin route's answer. A `body` that is an async iterable of bytes is streamed as it
    is produced (chunked transfer encoding); bytes are sent with a content-length."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | AsyncIterable[bytes] = b""
