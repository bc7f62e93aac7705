"""The built-in providers, registered through `register_providers` like any plugin's.

Each factory receives a PluginContext whose `name` is the provider slug and whose `config` is
that provider's `[providers.<slug>]` section (stored keys are the gateway's business, not the
provider's). The name `custom-*` registers the factory for every configured `custom-{slug}`.
"""

from __future__ import annotations

import pluggy

from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider
from aigw.builtins.providers.azure_openai import AzureOpenAIProvider
from aigw.builtins.providers.baseten import BasetenProvider
from aigw.builtins.providers.cartesia import CartesiaProvider
from aigw.builtins.providers.cohere import CohereProvider
from aigw.builtins.providers.deepgram import DeepgramProvider
from aigw.builtins.providers.elevenlabs import ElevenLabsProvider
from aigw.builtins.providers.fal import FalProvider
from aigw.builtins.providers.google import GoogleAIStudioProvider
from aigw.builtins.providers.google_vertex import GoogleVertexAIProvider
from aigw.builtins.providers.openai import (
    OPENAI_COMPATIBLE,
    OpenAIProvider,
    compatible_provider,
)
from aigw.builtins.providers.huggingface import HuggingFaceProvider
from aigw.builtins.providers.ideogram import IdeogramProvider
from aigw.builtins.providers.ollama import OllamaProvider
from aigw.builtins.providers.parallel import ParallelProvider
from aigw.builtins.providers.replicate import ReplicateProvider
from aigw.builtins.providers.workers_ai import WorkersAIProvider
from aigw.providers import provider_options
from aigw.types import PluginContext

hookimpl = pluggy.HookimplMarker("aigw")


def _compatible(ctx: PluginContext):
    return compatible_provider(ctx.name, ctx.config.get("base_url"), **provider_options(ctx))


@hookimpl(trylast=True)
def register_providers(register) -> None:
    """Every built-in provider: one module each (azure-openai, cohere, ...), the OpenAI-compatible
    family (groq, mistral, ..., fireworks) and custom-*."""
    register("openai", OpenAIProvider.from_context)
    register("anthropic", AnthropicProvider.from_context)
    register("workers-ai", WorkersAIProvider.from_context)
    register("google-ai-studio", GoogleAIStudioProvider.from_context)
    register("azure-openai", AzureOpenAIProvider.from_context)
    register("aws-bedrock", AwsBedrockProvider.from_context)
    register("google-vertex-ai", GoogleVertexAIProvider.from_context)
    register("cohere", CohereProvider.from_context)
    register("huggingface", HuggingFaceProvider.from_context)
    register("ollama", OllamaProvider.from_context)
    register("baseten", BasetenProvider.from_context)
    register("parallel", ParallelProvider.from_context)
    register("replicate", ReplicateProvider.from_context)
    register("cartesia", CartesiaProvider.from_context)
    register("elevenlabs", ElevenLabsProvider.from_context)
    register("deepgram", DeepgramProvider.from_context)
    register("fal", FalProvider.from_context)
    register("ideogram", IdeogramProvider.from_context)
    for slug in (*OPENAI_COMPATIBLE, "perplexity-ai"):
        register(slug, _compatible)
    register("custom-*", _compatible)
