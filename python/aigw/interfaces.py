"""The per-request contracts plugins implement (typing.Protocol; no base class needed).

Hooks register factories once at start-up (see hookspecs.py); the request path then calls
these objects directly. A factory has the signature ``factory(ctx: PluginContext) -> object``;
the gateway checks at start-up that what it returns has the members of its Protocol, and stops
naming the plugin when it does not.

Lifecycle (every kind of object, see `Lifecycle`): an object may have ``async start()`` and
``async aclose()`` (loggers and auth backends may spell the latter ``close()``, as they always
have). The gateway starts the objects it uses in order (providers, auth backends, loggers,
cache, rate limiter) and closes them in reverse order at stop, on one exit stack: a failing
`start` stops start-up with a message naming the plugin, after closing what was started.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

from aigw.log_query import LogPage, LogPatch, LogQuery, StoredLog
from aigw.types import (
    CachedResponse,
    Call,
    ErrorClass,
    Framing,
    LogRecord,
    Principal,
    RateDecision,
    UpstreamRequest,
    Usage,
)


@runtime_checkable
class Provider(Protocol):
    """An AI provider: maps a Call to an upstream request and reads what comes back.

    Attributes:
        name: the provider slug as clients name it ("openai", "custom-local").
        stream_terminator: data payload that ends a stream and is not relayed (b"[DONE]"),
            or None when the stream simply ends.
        usage_events: how many (first, last) stream events the relay keeps for usage_from_events.
    """

    name: str
    stream_terminator: bytes | None
    usage_events: tuple[int, int]

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """Whether the client sent its own provider credentials (lowercase header names)."""

    def build_request(self, call: Call, key: str | None) -> UpstreamRequest:
        """The upstream request for `call`. `key` is a stored key to inject because the
        client sent none; None means forward the client's own auth as sent."""

    def framing(self, call: Call, status: int, content_type: str) -> Framing:
        """How the response body with this status and content type is framed."""

    def usage_from_body(self, body: bytes) -> Usage | None:
        """Tokens reported in a whole (non-streamed) response body."""

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """Tokens reported in a stream, given the data of its first and last few events."""

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """Whether an error answer may be retried or fall back, and after how long."""


@runtime_checkable
class RealtimeProvider(Protocol):
    """Optional capability of a `Provider`: a realtime WebSocket API the gateway relays to
    (docs/realtime.md). Mix in `aigw.builtins.providers.realtime.RealtimeEndpoint` to get it."""

    def realtime_available(self) -> bool:
        """Whether this provider (as configured) has a realtime endpoint."""

    def realtime_has_client_auth(self, request: Any) -> bool:
        """Whether the client's upgrade (a RealtimeRequest) carries its own provider credentials."""

    def realtime_target(self, request: Any, key: str | None) -> Any:
        """The upstream URL, headers and subprotocols (a RealtimeTarget) of one session; `key`
        is a stored key to inject because the client sent none."""

    def realtime_usage(self, payload: bytes) -> Usage | None:
        """Tokens reported by one upstream message, or None (cheap when it reports none)."""


@runtime_checkable
class AuthBackend(Protocol):
    """Authenticates clients of the gateway (not provider credentials)."""

    name: str

    async def authenticate(self, gateway: str, token: str | None) -> Principal | None:
        """The principal owning `token` on `gateway`, or None when it is missing or bad."""


@runtime_checkable
class AuthenticatesNow(Protocol):
    """Optional capability of an `AuthBackend` whose answer needs no I/O (tokens verified in
    memory): `authenticate_now` gives what `authenticate` would, without an await, so the
    gateway's door takes a request that carries a token on its native path, as it takes one to
    a gateway that needs none. Without it every such request awaits `authenticate`."""

    def authenticate_now(self, gateway: str, token: str | None) -> Principal | None:
        """What `authenticate(gateway, token)` would return, decided without awaiting. Called on
        the event loop: it must not block."""


@runtime_checkable
class RevocationNotifier(Protocol):
    """Optional capability of an `AuthBackend`: it says when tokens stop being valid, so that
    the gateway closes the connections they opened (1008). Without it, open connections live
    on until they close."""

    def subscribe_revocations(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call `callback(principal_ids)` on the event loop whenever principals lose access."""


@runtime_checkable
class Logger(Protocol):
    """A sink for request logs. `log` is called on the event loop and must not block."""

    name: str

    async def start(self) -> None:
        """Open files/connections; called once before the gateway serves."""

    def log(self, record: LogRecord) -> None:
        """Accept one record (enqueue it; write later, off the loop)."""

    async def close(self) -> None:
        """Write everything accepted so far, then release resources."""


@runtime_checkable
class Cache(Protocol):
    """A response cache keyed by the gateway's cache key."""

    name: str

    async def get(self, key: str) -> CachedResponse | None:
        """The stored response, or None on a miss or after expiry."""

    async def set(self, key: str, value: CachedResponse, ttl: float) -> None:
        """Store `value` for `ttl` seconds."""


@runtime_checkable
class RateLimiter(Protocol):
    """Counts requests per key over a window."""

    name: str

    async def hit(self, key: str, limit: int, interval: float, technique: str) -> RateDecision:
        """Count one request for `key`; `technique` is "fixed" or "sliding"."""


@runtime_checkable
class Lifecycle(Protocol):
    """Optional for every plugin object: resources opened before serving, released after.

    `start` runs once, before the first request; `aclose` once at stop (also after a failed
    start-up, if `start` succeeded), and must not raise for a resource that is already gone."""

    async def start(self) -> None:
        """Open connections, load scripts, start background tasks."""

    async def aclose(self) -> None:
        """Flush what must not be lost, then release everything `start` opened."""


@runtime_checkable
class LogStore(Protocol):
    """A logger whose records can be read back: what `aigw logs` and the logs API read.

    `query` and `get` also work on a store that was never started (the CLI reads without
    writing): they open what they need on first use; `aclose` (or the logger's `close`)
    releases it."""

    name: str

    async def query(self, query: LogQuery) -> LogPage:
        """The page of logs matching `query`, without bodies. Raises ValueError on a bad query
        (see `aigw.log_query.validate_query`)."""

    async def get(self, log_id: str) -> StoredLog | None:
        """One log with its bodies, or None when no log has this id."""


@runtime_checkable
class LogEditor(Protocol):
    """Optional capability of a `LogStore`: annotate and delete stored logs (the logs API's
    PATCH and DELETE, Cloudflare's `patchLog`). A store without it answers reads only."""

    async def patch(self, log_id: str, changes: LogPatch) -> StoredLog | None:
        """Apply `changes` (feedback, score, metadata) to one log and return it without
        bodies, or None when no log has this id."""

    async def delete(self, query: LogQuery) -> int:
        """Delete every log matching `query`'s filters (its order, limit and cursor are
        ignored), bodies included; return how many were deleted."""


@runtime_checkable
class Observer(Protocol):
    """Sees every finished request, whether or not it is logged (`cf-aig-collect-log: false`
    too): metrics, costs, traces. Called on the event loop in the pipeline's `finally`, before
    the loggers (so what an observer adds to the record, such as its cost, is logged); it must
    be cheap, must not block and must not raise."""

    def observe(self, record: LogRecord) -> None:
        """Account for one finished request."""
