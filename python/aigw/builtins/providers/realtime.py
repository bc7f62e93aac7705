"""The realtime capability of providers: where a provider's own WebSocket API lives, how a key
reaches it, and where it reports usage.

A provider that mixes in ``RealtimeEndpoint`` (before ``HttpProvider``) answers
``realtime_target(request, key)`` with the upstream URL, headers and subprotocols of one
session. The gateway's realtime route (``aigw.api.realtime``) does the rest: it relays frames
unchanged, so nothing here looks at a frame except ``realtime_usage`` (JSON events that carry
token counts, found by a cheap substring check first).

Credentials, in this order (first found wins; none found → the stored key, if any):

* the provider's own auth header from the client (``authorization``, ``x-goog-api-key``,
  ``xi-api-key``, ``x-api-key``...): forwarded as sent;
* a key-bearing subprotocol the provider documents for browsers: a prefix form
  (``openai-insecure-api-key.<KEY>``, ``xi-api-key.<KEY>``, ``fal-api-key.<KEY>``,
  ``token.<KEY>``) or a pair form (Deepgram's ``token``, ``<KEY>``: a marker followed by the key);
  the key is moved into the upstream auth header; the key-bearing entries are never offered
  upstream and never echoed to the client (a pair's marker, which carries no secret, may be
  selected for the client, as the provider itself does);
* a key in the query (``api_key=``, Google's ``key=``): moved into the auth header and removed
  from the URL, so it never appears in an upstream URL or a log;
* a short-lived token the provider takes in the URL (Cartesia's ``access_token``, ElevenLabs'
  ``conversation_signature``): left where it is (it is the provider's browser form).

Config (``[providers.<slug>]``): ``realtime_url`` overrides the WebSocket base (default: the
provider's ``default_realtime_url`` when its ``base_url`` is the default one, else the
``base_url`` with ``http``→``ws``, ``https``→``wss``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, urlencode

import orjson

from aigw.providers import forwardable_headers, int_or_none, join_url, openai_usage
from aigw.types import Usage
from aigw.validation import check_endpoint

__all__ = ["ClientCredential", "RealtimeEndpoint", "RealtimeRequest", "RealtimeTarget", "ws_base"]

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
    for the log (None when only the first message names it). `client_subprotocols` are the
    subprotocols the gateway may select for the client when the upstream selects none of them
    (None: the ones offered upstream); a key-bearing one is never among them."""

    url: str
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    model: str | None = None
    client_subprotocols: list[str] | None = None

    def selectable(self) -> list[str]:
        """The subprotocols that may be echoed to the client."""
        return self.subprotocols if self.client_subprotocols is None else self.client_subprotocols


def ws_base(url: str) -> str:
    """`url` with an http(s) scheme turned into ws(s); ws(s) URLs unchanged."""
    if url.startswith("https://"):
        return "wss://" + url[len("https://"):]
    if url.startswith("http://"):
        return "ws://" + url[len("http://"):]
    return url


@dataclass(slots=True)
class ClientCredential:
    """Where the client's key came from: the auth header value to send upstream, and the
    subprotocols that carried it (never offered upstream nor echoed)."""

    header_value: str
    secret_subprotocols: frozenset[str] = frozenset()


class RealtimeEndpoint:
    """Mix-in giving an ``HttpProvider`` subclass a realtime WebSocket endpoint.

    Class attributes a provider sets:
        realtime_path: the path under the WebSocket base when the client gives none.
        default_realtime_url: the provider's WebSocket base when it differs from its HTTP base
            (used while `base_url` is the default one).
        realtime_key_subprotocols: prefixes of subprotocols that carry the client's key.
        realtime_key_subprotocol_pairs: marker → auth scheme for the pair form (the offered
            subprotocol after the marker is the key).
        realtime_key_queries: query parameters that carry the client's key (moved to the header).
        realtime_token_queries: query parameters carrying a provider token that stays in the URL.
        realtime_usage_marker: bytes that every usage-carrying event contains (None: no usage).
    The key goes into ``auth_header`` with ``auth_scheme`` (the provider's HTTP settings).
    """

    realtime_path = ""
    default_realtime_url: str | None = None
    realtime_key_subprotocols: tuple[str, ...] = ()
    realtime_key_subprotocol_pairs: Mapping[str, str] = {}
    realtime_key_queries: tuple[str, ...] = ()
    realtime_token_queries: tuple[str, ...] = ()
    realtime_usage_marker: bytes | None = None
    #: Query parameter naming the model (for the log), when the URL carries it.
    realtime_model_query: str | None = "model"

    # Provided by HttpProvider.
    auth_header: str
    auth_scheme: str
    base_url: str
    default_base_url: str
    options: dict[str, Any]

    def realtime_available(self) -> bool:
        """Whether this provider has a realtime endpoint (default: yes)."""
        return True

    def realtime_base(self) -> str:
        """The WebSocket base URL: the `realtime_url` option, else `default_realtime_url` while
        base_url is the default, else base_url as ws(s)."""
        configured = self.options.get("realtime_url")
        if not configured and self.default_realtime_url and self.base_url == self.default_base_url.rstrip("/"):
            configured = self.default_realtime_url
        return ws_base(str(configured) if configured else self.base_url).rstrip("/")

    def realtime_client_credential(self, request: RealtimeRequest) -> ClientCredential | None:
        """The auth header value built from a key the client sent in a subprotocol or the
        query (not from its auth header, which is forwarded as sent)."""
        offered = request.subprotocols
        for i, entry in enumerate(offered):
            for prefix in self.realtime_key_subprotocols:
                if entry.startswith(prefix) and len(entry) > len(prefix):
                    return ClientCredential(f"{self.auth_scheme}{entry[len(prefix):]}", frozenset({entry}))
            scheme = self.realtime_key_subprotocol_pairs.get(entry)
            if scheme is not None and i + 1 < len(offered) and offered[i + 1]:
                return ClientCredential(f"{scheme}{offered[i + 1]}", frozenset({offered[i + 1]}))
        if self.realtime_key_queries and request.query:
            for name, value in parse_qsl(request.query, keep_blank_values=True):
                if name in self.realtime_key_queries and value:
                    return ClientCredential(f"{self.auth_scheme}{value}")
        return None

    def realtime_has_client_auth(self, request: RealtimeRequest) -> bool:
        """Whether the client brought its own credentials (header, subprotocol or query)."""
        if self.has_client_auth(request.headers) or self.realtime_client_credential(request) is not None:
            return True
        if self.realtime_token_queries and request.query:
            return any(k in self.realtime_token_queries and v for k, v in parse_qsl(request.query))
        return False

    def realtime_key_in_messages(self, request: RealtimeRequest) -> bool:
        """Whether the provider's protocol at this request's path can carry the key inside a
        message (ElevenLabs' stream-input `xi_api_key`): then a session with no key in the
        upgrade and none stored is still opened, and the provider checks the key it reads
        (default: no)."""
        return False

    def realtime_path_for(self, request: RealtimeRequest) -> str:
        """The path under the WebSocket base for this request (default: `realtime_path`)."""
        return request.rest or self.realtime_path

    def realtime_model_for(self, path: str, query: Sequence[tuple[str, str]]) -> str | None:
        """The model to log for a session at `path` with `query` (default: the
        `realtime_model_query` parameter)."""
        if self.realtime_model_query:
            return next((v for k, v in query if k == self.realtime_model_query), None)
        return None

    def realtime_target(self, request: RealtimeRequest, key: str | None) -> RealtimeTarget:
        """The upstream session for `request`; `key` is a stored key to use because the
        client sent none. Raises BadRequest for a path that could leave the base path."""
        path = self.realtime_path_for(request)
        check_endpoint(path, "realtime path")
        # The client's own auth header wins (forwarded as sent); else a key it put in a
        # subprotocol or the query; else the stored key.
        credential = self.realtime_client_credential(request)
        secret = credential.secret_subprotocols if credential is not None else frozenset()
        inject: str | None = None
        if not request.headers.get(self.auth_header):
            if credential is not None:
                inject = credential.header_value
            elif key is not None:
                inject = f"{self.auth_scheme}{key}"
        pairs = parse_qsl(request.query, keep_blank_values=True) if request.query else []
        kept = [(k, v) for k, v in pairs if k not in self.realtime_key_queries]
        query = urlencode(kept) if len(kept) != len(pairs) else request.query
        headers = [
            (n, v) for n, v in forwardable_headers(request.headers)
            if n not in _NOT_FORWARDED and not (n == self.auth_header and inject)
        ]
        if inject is not None:
            headers.append((self.auth_header, inject))
        self.realtime_headers(request, headers)
        markers = self.realtime_key_subprotocol_pairs
        prefixes = self.realtime_key_subprotocols or ("\0",)
        selectable = [
            p for p in request.subprotocols
            if p not in secret and not p.startswith(GATEWAY_SUBPROTOCOL) and not p.startswith(prefixes)
        ]
        offered = [p for p in selectable if p not in markers]
        target = RealtimeTarget(join_url(self.realtime_base(), path, query), headers, offered, self.realtime_model_for(path, kept))
        if len(offered) != len(selectable):
            target.client_subprotocols = selectable
        return target

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
