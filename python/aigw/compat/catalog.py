"""What `GET …/compat/models` lists: for every configured provider that /compat can reach, its
`models = [...]` list from `[providers.<slug>]` when one is configured, else the static list
below of well-known models the provider serves (a custom provider without a list, or
azure-openai, whose models are the user's own `{resource}/{deployment}` names, contributes
nothing). Ids are `{provider}/{model}`, ready to use as `model` on /compat. The gateway does
not call providers' own model-list APIs (a listing must not spend a key or wait on a network).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from aigw.compat.cloud_targets import CLOUD_TARGETS
from aigw.compat.translation import resolve_target
from aigw.errors import InvalidProvider

__all__ = ["STATIC_MODELS", "model_list"]

#: Well-known models per built-in provider (chat and, where served, embeddings).
STATIC_MODELS: dict[str, tuple[str, ...]] = {
    "openai": ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o4-mini", "text-embedding-3-small", "text-embedding-3-large"),
    "anthropic": ("claude-sonnet-4-5", "claude-opus-4-1", "claude-haiku-4-5"),
    "google-ai-studio": ("gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "text-embedding-004", "gemini-embedding-001"),
    "workers-ai": ("@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-large-en-v1.5"),
    "groq": ("llama-3.3-70b-versatile", "llama-3.1-8b-instant"),
    "mistral": ("mistral-large-latest", "mistral-small-latest", "mistral-embed"),
    "deepseek": ("deepseek-chat", "deepseek-reasoner"),
    "grok": ("grok-4", "grok-3-mini"),
    "openrouter": ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4.5"),
    "cerebras": ("llama-3.3-70b", "llama3.1-8b"),
    "fireworks": ("accounts/fireworks/models/llama-v3p1-8b-instruct",),
    "perplexity-ai": ("sonar", "sonar-pro"),
    "cohere": ("command-a-03-2025", "command-r-plus"),
    "google-vertex-ai": ("google/gemini-2.5-pro", "google/gemini-2.5-flash", "anthropic/claude-sonnet-4-5"),
    "aws-bedrock": ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "us.amazon.nova-pro-v1:0", "us.amazon.nova-lite-v1:0"),
    "ollama": ("llama3.2", "qwen2.5"),
    "huggingface": ("meta-llama/Llama-3.1-8B-Instruct",),
}


def model_list(providers: Mapping[str, Any], formats: Mapping[str, str], configured: Mapping[str, Sequence[str] | None]) -> dict[str, Any]:
    """OpenAI's model list (`{"object": "list", "data": [{id, object, created, owned_by}]}`) of
    every configured provider (`configured`: slug → its `models` list or None) that is
    registered and reachable through /compat, in provider-name order."""
    data = []
    for slug in sorted(configured):
        if slug not in providers:
            continue
        if slug not in CLOUD_TARGETS or slug in formats:  # (a cloud target needs a real model name)
            try:
                resolve_target(slug, "-", providers, formats)
            except InvalidProvider:
                continue  # not reachable through /compat
        models = configured[slug]
        if models is None:
            models = STATIC_MODELS.get(slug, ())
        data += [{"id": f"{slug}/{m}", "object": "model", "created": 0, "owned_by": slug} for m in models]
    return {"object": "list", "data": data}
