"""Cohere: v2 chat (streamed and not), embed, rerank, and the v1 routes Cloudflare documents.

Base `https://api.cohere.ai` (Cloudflare proxies the legacy host; `api.cohere.com` is the same
API). Auth `Authorization: Bearer <key>`; Cloudflare's v1 examples send `Token <key>`, which is
forwarded as is. Usage (providers.md §7, §14): billing counts `billed_units`, so those are the
tokens logged (`tokens.*` are raw model tokens including the system preamble, used only when
`billed_units` is absent):

* chat: `usage.billed_units.{input,output}_tokens`; a stream's `message-end` event carries the
  same under `delta.usage`; the stream may end with `data: [DONE]` (not relayed) or not;
* v1 chat, embed, rerank: `meta.billed_units` (rerank bills `search_units`, not tokens).
"""

from __future__ import annotations

from typing import Any, Mapping

from aigw.providers import HttpProvider, int_or_none, loads_or_none
from aigw.types import Call, Usage


class CohereProvider(HttpProvider):
    """api.cohere.ai; endpoints carry their version (`v2/chat`, `v2/embed`, `v2/rerank`)."""

    name = "cohere"
    default_base_url = "https://api.cohere.ai"
    usage_events = (0, 2)

    def expects_stream_terminator(self, call: Call) -> bool:
        """A v2 stream ends with its `message-end` event; a `[DONE]` after it (sent by some
        deployments) is swallowed but not required."""
        return False

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """`Authorization: Bearer` or `Token`."""
        return bool(headers.get("authorization"))

    def usage_from_body(self, body: bytes) -> Usage | None:
        """v2 chat `usage`, else v1/embed/rerank `meta`."""
        doc = loads_or_none(body)
        if not isinstance(doc, dict):
            return None
        return cohere_usage(doc.get("usage")) or cohere_usage(doc.get("meta"))

    def usage_from_event(self, doc: dict) -> Usage | None:
        """`message-end.delta.usage` (v2); v1's `stream-end.response.meta`."""
        if doc.get("type") == "message-end" and isinstance(doc.get("delta"), dict):
            return cohere_usage(doc["delta"].get("usage"))
        if doc.get("event_type") == "stream-end" and isinstance(doc.get("response"), dict):
            return cohere_usage(doc["response"].get("meta"))
        return None


def cohere_usage(usage: Any) -> Usage | None:
    """Tokens from a Cohere `usage` or `meta` object: `billed_units` first, `tokens` else."""
    if not isinstance(usage, dict):
        return None
    for part in ("billed_units", "tokens"):
        counts = usage.get(part)
        if isinstance(counts, dict):
            tokens_in = int_or_none(counts.get("input_tokens"))
            tokens_out = int_or_none(counts.get("output_tokens"))
            if tokens_in is not None or tokens_out is not None:
                return Usage(tokens_in, tokens_out)
    return None
