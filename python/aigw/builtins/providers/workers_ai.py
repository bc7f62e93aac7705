"""Cloudflare Workers AI: `/ai/run/{model}` under an account, Cloudflare v4 envelopes.

Endpoints are model ids with slashes kept literally (`@cf/meta/llama-3.1-8b-instruct`), or the
OpenAI-compatible `v1/chat/completions` / `v1/embeddings`. Streams are data-only SSE whose last
JSON frame before `[DONE]` is `{"response":"","usage":{...}}` (providers.md §6).
"""

from __future__ import annotations

from aigw.providers import HttpProvider, loads_or_none, openai_usage
from aigw.types import Call, Usage

DEFAULT_BASE = "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai"


class WorkersAIProvider(HttpProvider):
    """Workers AI. Config: `account_id` (or a full `base_url` ending in `/ai`)."""

    name = "workers-ai"
    usage_events = (0, 2)

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
