"""OpenAI and the OpenAI-compatible family: one adapter, per-provider base URLs and quirks.

Cloudflare's slugs and upstream bases (cloudflare-aigw.md §4); every member speaks the OpenAI
chat-completions wire format with data-only SSE ending in `data: [DONE]` (providers.md §8).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from aigw.providers import HttpProvider, classify_http_error, loads_or_none, openai_usage
from aigw.types import Call, ErrorClass, Usage
from aigw.builtins.providers.realtime import RealtimeEndpoint


class OpenAIProvider(RealtimeEndpoint, HttpProvider):
    """OpenAI: `Authorization: Bearer`, base https://api.openai.com/v1. Realtime: the client's
    path under the base (`realtime` when none; GPT-Live is `live/sessions`); browsers may put
    the key in an `openai-insecure-api-key.<KEY>` subprotocol (providers.md §1.5)."""

    name = "openai"
    default_base_url = "https://api.openai.com/v1"
    realtime_path = "realtime"
    realtime_key_subprotocols = ("openai-insecure-api-key.",)
    realtime_usage_marker = b'"response.done"'

    def expects_stream_terminator(self, call: Call) -> bool:
        """Chat completions streams end with `data: [DONE]`; Responses API streams end with
        their `response.completed` event and no [DONE]."""
        return not call.endpoint.lstrip("/").removeprefix("v1/").startswith("responses")


class OpenAICompatibleProvider(OpenAIProvider):
    """A provider that speaks OpenAI's wire format at another base URL (also `custom-*`)."""

    def realtime_available(self) -> bool:
        """Only with a configured `realtime_url` (an OpenAI Realtime-compatible server)."""
        return bool(self.options.get("realtime_url"))

    def usage_from_event(self, doc: dict) -> Usage | None:
        """OpenAI usage, or Groq's `x_groq.usage` on the finishing chunk."""
        usage = super().usage_from_event(doc)
        if usage is None and isinstance(doc.get("x_groq"), dict):
            usage = openai_usage(doc["x_groq"].get("usage"))
        return usage

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """Groq's 498 (flex capacity) may be retried; otherwise the common verdict."""
        verdict = classify_http_error(status, headers)
        if status == 498:
            verdict.retryable = True
        return verdict


class PerplexityProvider(OpenAICompatibleProvider):
    """Perplexity streams may end without `[DONE]` and repeat usage on every chunk."""

    usage_events = (0, 1)

    def expects_stream_terminator(self, call: Call) -> bool:
        """Perplexity ends its streams without `[DONE]`."""
        return False


#: slug -> default upstream base URL, per Cloudflare's provider table.
OPENAI_COMPATIBLE = {
    "groq": "https://api.groq.com/openai/v1",
    "mistral": "https://api.mistral.ai/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "grok": "https://api.x.ai/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "cerebras": "https://api.cerebras.ai/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
}


def compatible_provider(name: str, base_url: str | None = None, **options) -> OpenAICompatibleProvider:
    """The adapter for OpenAI-compatible `name` (a known slug, or `custom-*` with a base URL)."""
    if name == "perplexity-ai":
        return PerplexityProvider(name, base_url or "https://api.perplexity.ai", **options)
    default = OPENAI_COMPATIBLE.get(name)
    if base_url is None and default is None:
        raise ValueError(f"provider {name!r} needs a base_url")
    return OpenAICompatibleProvider(name, base_url or default, **options)


def first_choice_text(body: bytes) -> str | None:
    """The assistant text of a chat.completion body (used by tests and the demo)."""
    doc = loads_or_none(body)
    try:
        return doc["choices"][0]["message"]["content"]
    except (TypeError, KeyError, IndexError):
        return None


def delta_texts(events: Sequence[bytes]) -> str:
    """Concatenated `choices[0].delta.content` of chat.completion.chunk events."""
    parts = []
    for data in events:
        doc = loads_or_none(data)
        try:
            parts.append(doc["choices"][0]["delta"].get("content") or "")
        except (TypeError, KeyError, IndexError, AttributeError):
            continue
    return "".join(parts)
