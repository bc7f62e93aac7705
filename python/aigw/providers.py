"""The public base for provider plugins: `HttpProvider` and the helpers every HTTP provider shares.

A provider turns a `Call` (provider, endpoint, headers, body, query) into an `UpstreamRequest`,
names the framing of what comes back, reads usage and classifies errors (the `aigw.Provider`
protocol). Most providers are an HTTP API at a base URL with a key in one header; subclassing
`HttpProvider` and setting three class attributes is then a whole provider:

    from aigw.providers import HttpProvider

    class Llamafile(HttpProvider):
        name = "llamafile"
        default_base_url = "http://127.0.0.1:8080/v1"

    @aigw.hookimpl
    def register_providers(register):
        register("llamafile", Llamafile.from_context)

Override `url_for` (where the path goes), `add_headers` (versions), `usage_from_body` /
`usage_from_event` (where usage lives) or `classify_error` (retry verdicts) where the provider
differs from OpenAI's conventions. Every built-in provider (aigw.builtins.providers) is written
on this base and is a model to copy. What is here is a stable API: names are only added.

Two optional capabilities the request path uses when a provider has them:
`key_alias(call)` (which stored-key alias a call prefers, e.g. Azure's resource) and
`async prepare(request, call, key, client)` (work that needs I/O before sending, e.g. minting an
OAuth token); see their docstrings on `HttpProvider`.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import orjson

from aigw import _codec
from aigw.memo import Memo
from aigw.slots_maker import maker
from aigw.types import Call, ErrorClass, Framing, PluginContext, UpstreamRequest, Usage
from aigw.validation import _PASSED_ENDPOINTS, GATEWAY_OWNED, CheckedHeaders, check_endpoint

__all__ = [
    "RETRYABLE_STATUSES",
    "Call",
    "ErrorClass",
    "Framing",
    "HttpProvider",
    "UpstreamRequest",
    "Usage",
    "classify_http_error",
    "forwardable_headers",
    "framing_for",
    "int_or_none",
    "join_url",
    "loads_or_none",
    "openai_usage",
    "parse_retry_after",
    "provider_options",
]

#: `UpstreamRequest(...)` and `Usage(...)` in one native call (aigw.slots_maker): every provider request makes one of each.
_make_upstream_request = maker(UpstreamRequest)
_make_usage = maker(Usage)

# Headers that describe one hop or belong to the gateway, never forwarded upstream. The
# pipeline already refuses the framing ones from a client (aigw.validation); dropping them
# here too keeps a provider that is handed headers some other way from forwarding them.
_NOT_FORWARDED = GATEWAY_OWNED | {
    "accept-encoding",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-protocol",
    "sec-websocket-extensions",
}

# Pre-"cf-aig-" spellings of gateway options that Cloudflare still honours.
_OLD_CF_OPTIONS = frozenset({"cf-cache-ttl", "cf-skip-cache"})

RETRYABLE_STATUSES = frozenset({408, 409, 429, 529})


_EXCLUDED = _NOT_FORWARDED | _OLD_CF_OPTIONS


def forwardable_headers(
    headers: Mapping[str, str], auth: tuple[str, str] | None = None, default_type: bool = False
) -> list[tuple[str, str]]:
    """The client's headers (lowercase names) minus hop-by-hop and framing ones (`proxy-*`
    included) and the gateway's own `cf-aig-*` options. With `auth` (name, value), every field
    of that name is replaced by it, appended; with `default_type`, `content-type:
    application/json` is appended when none is forwarded."""
    if headers.__class__ is dict or headers.__class__ is CheckedHeaders:
        return _codec.forwardable_headers(headers, _EXCLUDED, auth, default_type)  # the same, one native pass
    out = [
        (name, value)
        for name, value in headers.items()
        if name not in _NOT_FORWARDED
        and not name.startswith(("cf-aig-", "proxy-"))
        and name not in _OLD_CF_OPTIONS
        and (auth is None or name != auth[0])
    ]
    if auth is not None:
        out.append(auth)
    if default_type and not any(n == "content-type" for n, _ in out):
        out.append(("content-type", "application/json"))
    return out


def join_url(base_url: str, endpoint: str, query: str = "") -> str:
    """`base_url` + `/endpoint`, dropping a leading `v1/` from the endpoint when the base already
    ends in `/v1` (Cloudflare accepts both `/openai/chat/completions` and `/openai/v1/...`)."""
    if not query and "?" not in endpoint:  # a query string may carry a key: never kept
        return _JOINED[base_url, endpoint]
    return _join(base_url, endpoint, query)


def _join(base_url: str, endpoint: str, query: str) -> str:
    base = base_url.rstrip("/")
    path = endpoint.lstrip("/")
    if base.endswith("/v1") and (path == "v1" or path.startswith("v1/")):
        path = path[3:]
    url = f"{base}/{path}" if path else base
    return f"{url}?{query}" if query else url


#: (base URL, endpoint without a query) → the joined URL: a gateway calls few such pairs.
_JOINED: Memo[tuple[str, str], str] = Memo(lambda pair: _join(pair[0], pair[1], ""), 1024)


def framing_for(content_type: str) -> Framing:
    """Framing by media type: SSE, NDJSON, AWS event stream, JSON, or raw bytes."""
    return _FRAMINGS[content_type]


def _framing_for(content_type: str) -> Framing:
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "text/event-stream":
        return Framing.SSE
    if media in ("application/x-ndjson", "application/jsonl", "application/ndjson"):
        return Framing.NDJSON
    if media == "application/vnd.amazon.eventstream":
        return Framing.EVENTSTREAM
    if media == "application/json" or media.endswith("+json") or not media:
        return Framing.JSON
    return Framing.RAW


#: `framing_for`, remembered: a gateway meets few content types (the request path subscripts it).
_FRAMINGS: Memo[str, Framing] = Memo(_framing_for, 256)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from `retry-after-ms`, or `retry-after` as seconds or an HTTP date."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def classify_http_error(status: int, headers: Mapping[str, str]) -> ErrorClass:
    """The common verdict: 408/409/429/529 and 5xx may be retried, other 4xx may not.
    `x-should-retry` (OpenAI, Anthropic) overrides the status."""
    should = headers.get("x-should-retry")
    if should == "true":
        retryable = True
    elif should == "false":
        retryable = False
    else:
        retryable = status in RETRYABLE_STATUSES or status >= 500
    return ErrorClass(retryable=retryable, retry_after=parse_retry_after(headers))


def loads_or_none(data: bytes) -> Any:
    """JSON-decode `data`, or None when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def int_or_none(value: Any) -> int | None:
    """`value` when it is an integer token count (bools excluded), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


#: Keys of a `[providers.<slug>]` table that the gateway handles itself (never adapter options).
GATEWAY_PROVIDER_KEYS = frozenset({"key", "keys", "format", "base_url"})


def provider_options(ctx: PluginContext) -> dict[str, Any]:
    """The provider's own options from its config table (`region`, `api_version`...): every key
    but the gateway's (`key`, `keys`, `format`, `base_url`)."""
    return {k: v for k, v in dict(ctx.config).items() if k not in GATEWAY_PROVIDER_KEYS}


@dataclass(frozen=True, slots=True)
class Overrides:
    """Which of HttpProvider's request-path hooks a provider class replaces (`OVERRIDES`). The
    pipeline runs the base class's own versions inline for the others, a Python call fewer
    each; a provider that is not an HttpProvider replaces them all (its methods are called)."""

    prepare: bool  # False also when the class has no `prepare` at all
    has_client_auth: bool
    framing: bool
    usage_from_body: bool
    usage_from_headers: bool  # whether the class has one (HttpProvider has none)


def _overrides(kind: type) -> Overrides:
    def replaces(name: str) -> bool:
        return getattr(kind, name, None) is not getattr(HttpProvider, name)

    prepare = getattr(kind, "prepare", None)
    return Overrides(
        prepare=prepare is not None and prepare is not HttpProvider.prepare,
        has_client_auth=replaces("has_client_auth"),
        framing=replaces("framing"),
        usage_from_body=replaces("usage_from_body"),
        usage_from_headers=getattr(kind, "usage_from_headers", None) is not None,
    )


class HttpProvider:
    """An HTTP provider with OpenAI's conventions by default. Subclasses set `name`,
    `default_base_url` and `auth_header`/`auth_scheme`, and override the URL, header and usage
    hooks where their provider differs."""

    name = ""
    default_base_url = ""
    auth_header = "authorization"  # where a stored key goes
    auth_scheme = "Bearer "  # prefix of the stored key in that header
    stream_terminator: bytes | None = b"[DONE]"
    usage_events: tuple[int, int] = (0, 2)

    #: Whether the class overrides `url_for` / `add_headers` (set per subclass): the base
    #: class's `build_request` runs its own versions inline, without the calls.
    _own_url_for = False
    _adds_headers = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._own_url_for = cls.url_for is not HttpProvider.url_for
        cls._adds_headers = cls.add_headers is not HttpProvider.add_headers

    def __init__(self, name: str | None = None, base_url: str | None = None, **options: Any) -> None:
        if name:
            self.name = name
        self.base_url = (base_url or self.default_base_url).rstrip("/")
        self.options = options

    @classmethod
    def from_context(cls, ctx: PluginContext) -> "HttpProvider":
        """The factory to register: `cls(ctx.name, base_url from the config, **other options)`."""
        return cls(ctx.name, ctx.config.get("base_url"), **provider_options(ctx))

    # -- requests --
    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """Whether the client sent its own credentials in this provider's auth header."""
        return bool(headers.get(self.auth_header))

    def url_for(self, call: Call) -> str:
        """The absolute upstream URL of `call`."""
        return join_url(self.base_url, call.endpoint, call.query)

    def build_request(self, call: Call, key: str | None) -> UpstreamRequest:
        """Forward the client's headers (minus hop-by-hop and cf-aig-*) and body to
        base_url/endpoint, injecting the stored `key` when given. Raises BadRequest for an
        endpoint that could leave the base path (every subclass's `url_for` is covered)."""
        endpoint = call.endpoint
        if endpoint not in _PASSED_ENDPOINTS:  # check_endpoint's memo, read without its call
            check_endpoint(endpoint, "request")
        auth = None if key is None else (self.auth_header, f"{self.auth_scheme}{key}")
        headers = call.headers
        if headers.__class__ is dict or headers.__class__ is CheckedHeaders:  # forwardable_headers' usual case, inline
            headers = _codec.forwardable_headers(headers, _EXCLUDED, auth, bool(call.body))
        else:
            headers = forwardable_headers(headers, auth, bool(call.body))
        if self._adds_headers:
            self.add_headers(call, headers)
        if self._own_url_for or call.query or "?" in endpoint:
            url = self.url_for(call)
        else:  # url_for → join_url's memo, inline
            url = _JOINED[self.base_url, endpoint]
        return _make_upstream_request(call.method, url, headers, call.body)

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        """Hook for provider-required headers (e.g. anthropic-version). Default: none."""

    def key_alias(self, call: Call) -> str | None:
        """The stored-key alias this call prefers when the client names none with
        `cf-aig-byok-alias` (Azure: the resource in the path), tried before "default".
        Default: None (use "default")."""
        return None

    async def prepare(self, request: UpstreamRequest, call: Call, key: str | None, client: Any) -> UpstreamRequest:
        """Finish `request` with work that needs I/O, awaited once after `build_request` (Vertex
        mints an OAuth token from a stored service account here). `client` is the gateway's
        upstream HTTP client (`await client.request(method, url, headers, body)`), so such
        calls use the gateway's TLS, pools and timeouts. Default: `request` unchanged."""
        return request

    # -- responses --
    def framing(self, call: Call, status: int, content_type: str) -> Framing:
        """Framing by the response's content type."""
        return _FRAMINGS[content_type]

    def usage_from_body(self, body: bytes) -> Usage | None:
        """OpenAI-style `usage` (chat: prompt/completion tokens; responses: input/output).
        Read by the Rust codec without decoding the rest of the answer (`openai_usage`'s rules)."""
        if type(body) is bytes:
            pair = _codec.openai_usage(body)
            return None if pair is None else _make_usage(*pair)
        doc = loads_or_none(body)
        return openai_usage(doc.get("usage")) if isinstance(doc, dict) else None

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """The last event that carries usage wins."""
        for data in reversed(last):
            doc = loads_or_none(data)
            if isinstance(doc, dict):
                usage = self.usage_from_event(doc)
                if usage is not None:
                    return usage
        return None

    def usage_from_event(self, doc: dict) -> Usage | None:
        """Usage in one decoded stream event (OpenAI chunk or Responses API event)."""
        usage = openai_usage(doc.get("usage"))
        if usage is None and isinstance(doc.get("response"), dict):  # response.completed
            usage = openai_usage(doc["response"].get("usage"))
        return usage

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """The common HTTP verdict (see classify_http_error)."""
        return classify_http_error(status, headers)


#: `build_request` for the usual call to a provider class that keeps it (its URL joined before,
#: no query), in one native call the pipeline makes instead of the method's (None: the call is
#: not the usual one; nothing changed): rust/src/python/usual_build.rs.
_USUAL_BUILD = _codec.UsualBuild(Call, HttpProvider.build_request, _PASSED_ENDPOINTS, _EXCLUDED, CheckedHeaders, _JOINED, _make_upstream_request)


def openai_usage(usage: Any) -> Usage | None:
    """Usage from an OpenAI-shaped `usage` object (chat or Responses API field names)."""
    if not isinstance(usage, dict):
        return None
    tokens_in = int_or_none(usage.get("prompt_tokens", usage.get("input_tokens")))
    tokens_out = int_or_none(usage.get("completion_tokens", usage.get("output_tokens")))
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)


#: `Overrides` of each provider class, worked out once per class.
OVERRIDES: Memo[type, Overrides] = Memo(_overrides, 256)
