"""The built-in providers, registered through `register_providers` like any plugin's.

Each factory receives a PluginContext whose `name` is the provider slug and whose `config` is
that provider's `[providers.<slug>]` section (stored keys are the gateway's business, not the
provider's). The name `custom-*` registers the factory for every configured `custom-{slug}`.
"""

from __future__ import annotations

from typing import Callable

import pluggy

from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.builtins.providers.google import GoogleAIStudioProvider
from aigw.builtins.providers.openai import (
    OPENAI_COMPATIBLE,
    OpenAIProvider,
    compatible_provider,
)
from aigw.builtins.providers.workers_ai import WorkersAIProvider
from aigw.types import PluginContext

hookimpl = pluggy.HookimplMarker("aigw")

_PROVIDER_KEYS = ("key", "keys", "format")  # handled by the gateway, not passed to adapters


def _options(ctx: PluginContext) -> dict:
    return {k: v for k, v in dict(ctx.config).items() if k not in _PROVIDER_KEYS and k != "base_url"}


def _factory(cls) -> Callable[[PluginContext], object]:
    def build(ctx: PluginContext):
        return cls(ctx.name, ctx.config.get("base_url"), **_options(ctx))

    return build


def _compatible(ctx: PluginContext):
    return compatible_provider(ctx.name, ctx.config.get("base_url"), **_options(ctx))


@hookimpl(trylast=True)
def register_providers(register) -> None:
    """openai, anthropic, workers-ai, google-ai-studio, the OpenAI-compatible family, custom-*."""
    register("openai", _factory(OpenAIProvider))
    register("anthropic", _factory(AnthropicProvider))
    register("workers-ai", _factory(WorkersAIProvider))
    register("google-ai-studio", _factory(GoogleAIStudioProvider))
    for slug in (*OPENAI_COMPATIBLE, "perplexity-ai"):
        register(slug, _compatible)
    register("custom-*", _compatible)
