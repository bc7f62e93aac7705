"""The realtime capability of providers: where a provider's own WebSocket API lives, how a key
reaches it, and where it reports usage.

A provider that mixes in ``RealtimeEndpoint`` (before ``HttpProvider``) answers
``realtime_target(request, key)`` with the upstream URL, headers and subprotocols of one
session. The gateway's realtime route (``aigw.api.realtime``) does the rest: it relays frames
unchanged, so nothing here looks at a frame except ``realtime_usage`` (JSON events that carry
token counts, found by a cheap substring check first).

Credentials, in this order (first found wins; none found → the stored key, if any):

* the provider's own auth header from the client (``authorization``, ``x-goog-api-key``...);
* a key-bearing subprotocol the provider documents for browsers (``openai-insecure-api-key.<KEY>``,
  ``xi-api-key.<KEY>``, ``fal-api-key.<KEY>``): moved into the upstream auth header, never
  offered upstream and never echoed to the client;
* a key in the query (``api_key=``, Google's ``key=``): moved into the auth header and removed
  from the URL, so it never appears in an upstream URL or a log.

Config (``[providers.<slug>]``): ``realtime_url`` overrides the WebSocket base (default: the
provider's ``base_url`` with ``http``→``ws``, ``https``→``wss``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

import orjson

from aigw.providers import forwardable_headers, int_or_none, join_url, openai_usage
from aigw.types import Usage
from aigw.validation import check_endpoint

__all__ = ["RealtimeEndpoint", "RealtimeRequest", "RealtimeTarget", "ws_base"]

#: The gateway's own auth subprotocol prefix (never forwarded; see aigw.api.gateway_context).
GATEWAY_SUBPROTOCOL = "cf-aig-authorization."
# Client headers that describe the browser or the gateway's origin, not the provider call.
_NOT_FORWARDED = frozenset({"origin", "cookie", "sec-websocket-accept"})


@dataclass(slots=True)
class RealtimeRequest:
    """What the client asked for: the path after the provider (no leading "/"), the raw query,
    its headers (lowercase names) and the subprotocols it offered, in order."""

    rest: str = ""
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    subprotocols: Sequence[str] = ()


@dataclass(slots=True)
class RealtimeTarget:
    """One upstream session: where to connect, with which headers and subprotocols. `model` is
    for the log (None when only the first message names it)."""

    url: str
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    model: str | None = None


def ws_base(url: str) -> str:
    """`url` with an http(s) scheme turned into ws(s); ws(s) URLs unchanged."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


class RealtimeEndpoint:
    """Mix-in giving an ``HttpProvider`` subclass a realtime WebSocket endpoint.

    Class attributes a provider sets:
        realtime_path: the path under the WebSocket base when the client gives none.
        realtime_key_subprotocols: prefixes of subprotocols that carry the client's key.
        realtime_key_queries: query parameters that carry the client's key.
        realtime_usage_marker: bytes that every usage-carrying event contains (None: no usage).
    The key goes into ``auth_header`` with ``auth_scheme`` (the provider's HTTP settings).
    """

    realtime_path = ""
    realtime_key_subprotocols: tuple[str, ...] = ()
    realtime_key_queries: tuple[str, ...] = ()
    realtime_usage_marker: bytes | None = None
    #: Query parameter naming the model (for the log), when the URL carries it.
    realtime_model_query: str | None = "model"

    # Provided by HttpProvider.
    auth_header: str
    auth_scheme: str
    base_url: str
    options: dict[str, Any]

    def realtime_available(self) -> bool:
        """Whether this provider has a realtime endpoint (default: yes)."""
        return True

    def realtime_base(self) -> str:
        """The WebSocket base URL: the `realtime_url` option, else base_url as ws(s)."""
        configured = self.options.get("realtime_url")
        return ws_base(str(configured) if configured else self.base_url).rstrip("/")

    def realtime_client_key(self, request: RealtimeRequest) -> str | None:
        """The key the client sent in a subprotocol or the query (not in the auth header)."""
        for offered in request.subprotocols:
            for prefix in self.realtime_key_subprotocols:
                if offered.startswith(prefix) and len(offered) > len(prefix):
                    return offered[len(prefix):]
        if self.realtime_key_queries and request.query:
            for name, value in parse_qsl(request.query, keep_blank_values=True):
                if name in self.realtime_key_queries and value:
                    return value
        return None

    def realtime_has_client_auth(self, request: RealtimeRequest) -> bool:
        """Whether the client brought its own credentials (header, subprotocol or query)."""
        return bool(request.headers.get(self.auth_header)) or self.realtime_client_key(request) is not None

    def realtime_path_for(self, request: RealtimeRequest) -> str:
        """The path under the WebSocket base for this request (default: `realtime_path`)."""
        return request.rest or self.realtime_path

    def realtime_target(self, request: RealtimeRequest, key: str | None) -> RealtimeTarget:
        """The upstream session for `request`; `key` is a stored key to use because the
        client sent none. Raises BadRequest for a path that could leave the base path."""
        path = self.realtime_path_for(request)
        check_endpoint(path, "realtime path")
        client_key = self.realtime_client_key(request)
        pairs = parse_qsl(request.query, keep_blank_values=True) if request.query else []
        kept = [(k, v) for k, v in pairs if k not in self.realtime_key_queries]
        query = urlencode(kept) if len(kept) != len(pairs) else request.query
        headers = [
            (n, v) for n, v in forwardable_headers(request.headers)
            if n not in _NOT_FORWARDED and not (n == self.auth_header and (client_key or key))
        ]
        secret = client_key or key
        if secret is not None:
            headers.append((self.auth_header, f"{self.auth_scheme}{secret}"))
        self.realtime_headers(request, headers)
        offered = [
            p for p in request.subprotocols
            if not p.startswith(GATEWAY_SUBPROTOCOL) and not p.startswith(self.realtime_key_subprotocols or ("\0",))
        ]
        model = None
        if self.realtime_model_query:
            model = next((v for k, v in kept if k == self.realtime_model_query), None)
        return RealtimeTarget(join_url(self.realtime_base(), path, query), headers, offered, model)

    def realtime_headers(self, request: RealtimeRequest, headers: list[tuple[str, str]]) -> None:
        """Hook for headers a provider's realtime API needs (versions). Default: none."""

    def realtime_usage(self, payload: bytes) -> Usage | None:
        """Tokens reported by one upstream message, or None. Only messages containing
        `realtime_usage_marker` are decoded."""
        marker = self.realtime_usage_marker
        if marker is None or marker not in payload:
            return None
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return None
        return self.realtime_usage_from(doc) if isinstance(doc, dict) else None

    def realtime_usage_from(self, doc: dict) -> Usage | None:
        """Usage in one decoded event. Default: OpenAI Realtime's ``response.done``."""
        response = doc.get("response")
        if doc.get("type") == "response.done" and isinstance(response, dict):
            return openai_usage(response.get("usage"))
        return None


def gemini_live_usage(meta: Any) -> Usage | None:
    """Gemini Live ``usageMetadata``: promptTokenCount in; responseTokenCount (Live's name;
    candidatesTokenCount on the HTTP API) plus thoughtsTokenCount out."""
    if not isinstance(meta, dict):
        return None
    tokens_in = int_or_none(meta.get("promptTokenCount"))
    out = [int_or_none(meta.get(k)) for k in ("responseTokenCount", "candidatesTokenCount", "thoughtsTokenCount")]
    tokens_out = sum(v for v in out if v is not None) if any(v is not None for v in out) else None
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)
