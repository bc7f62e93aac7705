"""Cloudflare Workers AI: `/ai/run/{model}` under an account, Cloudflare v4 envelopes.

Endpoints are model ids with slashes kept literally (`@cf/meta/llama-3.1-8b-instruct`), or the
OpenAI-compatible `v1/chat/completions` / `v1/embeddings`. Streams are data-only SSE whose last
JSON frame before `[DONE]` is `{"response":"","usage":{...}}` (providers.md §6).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from aigw.providers import HttpProvider, loads_or_none, openai_usage
from aigw.builtins.providers.realtime import RealtimeEndpoint, RealtimeRequest, RealtimeTarget
from aigw.types import Call, Usage

DEFAULT_BASE = "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai"


class WorkersAIProvider(RealtimeEndpoint, HttpProvider):
    """Workers AI. Config: `account_id` (or a full `base_url` ending in `/ai`). Realtime: the
    Deepgram models over WebSocket (`?model=@cf/deepgram/nova-3&encoding=…`, or the model as
    the path), relayed to `wss://…/ai/run/{model}?{the other parameters}`."""

    name = "workers-ai"
    usage_events = (0, 2)

    def realtime_available(self) -> bool:
        """Only with an account (the URL needs one)."""
        return bool(self.base_url) or bool(self.options.get("realtime_url"))

    def realtime_target(self, request: RealtimeRequest, key: str | None) -> RealtimeTarget:
        """`model` moves from the query into the path `run/{model}`."""
        pairs = parse_qsl(request.query, keep_blank_values=True)
        model = next((v for k, v in pairs if k == "model"), None)
        rest = request.rest.lstrip("/")
        if not rest and model:
            rest = model
            request = RealtimeRequest(rest, urlencode([(k, v) for k, v in pairs if k != "model"]), request.headers, request.subprotocols)
        if rest and not rest.startswith("run/"):
            rest = f"run/{rest}"
        target = super().realtime_target(RealtimeRequest(rest, request.query, request.headers, request.subprotocols), key)
        target.model = rest[len("run/"):] or None
        return target

    def __init__(self, name: str | None = None, base_url: str | None = None, **options) -> None:
        account = options.get("account_id") or "{account_id}"
        super().__init__(name, base_url or DEFAULT_BASE.format(account_id=account), **options)
        if base_url is None and "account_id" not in options:
            # Without an account the URL cannot be built: fail on use with a clear message.
            self.base_url = ""

    def url_for(self, call: Call) -> str:
        """`v1/...` goes to the OpenAI-compatible routes, anything else to `run/{model}`;
        a leading `run/` from Cloudflare's SDK-style paths is accepted too."""
        if not self.base_url:
            raise ValueError("workers-ai needs providers.workers-ai.account_id or base_url in the config")
        endpoint = call.endpoint.lstrip("/")
        if not (endpoint.startswith("v1/") or endpoint.startswith("run/")):
            endpoint = f"run/{endpoint}"
        url = f"{self.base_url}/{endpoint}"
        return f"{url}?{call.query}" if call.query else url

    def usage_from_body(self, body: bytes) -> Usage | None:
        """`result.usage` in the v4 envelope, or top-level `usage` on the v1 routes."""
        doc = loads_or_none(body)
        if not isinstance(doc, dict):
            return None
        result = doc.get("result")
        if isinstance(result, dict) and "usage" in result:
            return openai_usage(result["usage"])
        return openai_usage(doc.get("usage"))
