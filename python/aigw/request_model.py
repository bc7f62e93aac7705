"""The pipeline's request model: what a surface hands in (`GatewayRequest` of `StepRequest`s),
how it answers (`Sink`, given `Answer`s and `RelayOutcome`s), a gateway's settings as the
request path reads them (`GatewayPolicy`), the objects resolved at start-up (`Runtime`), and a
step resolved before any I/O (`StepPlan`). Plain data: the behaviour is aigw.pipeline's, which
re-exports all of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Mapping, Protocol, Sequence

from aigw.errors import AigwError
from aigw.interfaces import Cache, Logger, Observer, Provider, RateLimiter
from aigw.options import CachePolicy, RetryPolicy
from aigw.slots_maker import maker
from aigw.types import Call, Framing, Usage

if TYPE_CHECKING:
    from aigw.providers import Overrides

__all__ = [
    "Answer", "GatewayPolicy", "GatewayRequest", "KeyStore", "RelayOutcome", "Runtime", "Sink", "StepPlan", "StepRequest",
    "make_answer", "make_gateway_request", "make_step_request",
]  # fmt: skip


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
    #: Who the gateway authenticated (a token's principal id), when known: it scopes cached
    #: answers obtained with a key the gateway injected.
    principal: str | None = None
    #: Who sent it (the client connection): its requests share one owner's part of each
    #: provider host's upstream pool (`[upstream] max_connections_per_client`). None: no cap.
    owner: Any = None


@dataclass(slots=True)
class Answer:
    """What a sink delivers, in no transport's dialect: the WebSocket sink renders it as
    `universal.*` metadata, the HTTP sink as `cf-aig-*` response headers."""

    event_id: str
    log_id: str
    step: int  # index of the step that answered (0 when none did)
    status: int
    content_type: str  # bare media type, e.g. "text/event-stream"
    cache_status: str = "MISS"
    usage: Usage | None = None
    #: The answering upstream's response header fields as received (bytes pairs), or a cached
    #: answer's (str pairs): a pass-through surface relays them. Empty for the gateway's errors.
    headers: Sequence[tuple[Any, Any]] = ()


@dataclass(slots=True)
class RelayOutcome:
    """What a sink reports after relaying a stream's events."""

    first: list[bytes]
    last: list[bytes]
    events: int = 0
    error: AigwError | None = None  # the stream broke after it started
    response_bytes: bytes | None = None  # collected body for the log, when asked for
    usage: Usage | None = None  # read once by the sink from `first`/`last`
    saw_terminator: bool = False  # the provider's end-of-stream payload arrived


class Sink(Protocol):
    """How a surface answers. Per request exactly one of: deliver, fail, or relay followed by
    end_stream."""

    def deliver(self, answer: Answer, body: bytes) -> None:
        """A whole answer: a provider response (success or error) or a cache hit."""

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error before any output."""

    async def relay(
        self, answer: Answer, chunks: AsyncIterator[bytes], framing: Framing, provider: Provider, collect: bool
    ) -> RelayOutcome:
        """Start the answer, then relay every event of `chunks` (whose iteration raises an
        AigwError when the upstream breaks). Does not send the end: end_stream does."""

    def end_stream(self, answer: Answer, usage: Usage | None, error: AigwError | None) -> None:
        """End a relayed stream: cleanly, or with `error` so that the client sees a failure."""


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
    max_steps: int = 10  # steps (fallbacks) one request may name
    stream_first_byte_timeout_ms: int = 60_000  # for streams without a request timeout; 0 = client default


class KeyStore(Protocol):
    def lookup(self, provider: str, alias: str | None) -> str | None:
        """The stored key for `provider` under `alias` (None: the default alias), or None.
        Raises ByokAliasNotFound for a named alias that does not exist."""


@dataclass(slots=True)
class Runtime:
    """The objects the request path uses, resolved once at start-up."""

    providers: Mapping[str, Provider]
    keys: KeyStore
    client: Any  # aigw.upstream.UpstreamClient (or anything with its `request` signature)
    cache: Cache | None = None
    limiter: RateLimiter | None = None
    loggers: Sequence[Logger] = ()
    observers: Sequence[Observer] = ()  # issue 13: see every finished request, logged or not


@dataclass(slots=True)
class StepPlan:
    """One step, resolved before any I/O: provider, call, policies and the credential to use."""

    index: int
    provider: Provider
    call: Call
    retry: RetryPolicy
    caching: CachePolicy
    key: str | None  # stored key to inject; None: the client's own credentials are forwarded
    overrides: Overrides  # which of HttpProvider's hooks the provider's class replaces


#: Positional constructors of the objects every request makes: the same classes, each built in
#: one native call instead of `type.__call__` and a generated `__init__` (aigw.slots_maker).
make_step_request = maker(StepRequest)
make_gateway_request = maker(GatewayRequest)
make_answer = maker(Answer)
