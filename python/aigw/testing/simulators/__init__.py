"""Wire-faithful local simulators of the upstream AI providers, for offline tests.

Each simulator is a small aiohttp server (an HTTP stack independent of aigw's) that answers on
the provider's real paths with the provider's real bytes: the same SSE framing (LF or CRLF,
``event:`` lines, comments, ``[DONE]`` or not), usage where the provider puts it, the provider's
own error bodies and rate-limit headers. The wire facts follow the team's provider reference
(providers.md); each provider module's docstring lists what it simulates.

Base URLs (what the gateway config, or an SDK's ``base_url``, points at; ``ROOT`` is
``sim.url`` = ``http://127.0.0.1:PORT``; ``sim.base_url()`` returns the whole thing):

| slug | class | base URL | paths served under it |
|---|---|---|---|
| ``openai`` | ``OpenAISimulator`` | ``ROOT/v1`` | ``/chat/completions``, ``/responses``, ``/embeddings`` |
| ``anthropic`` | ``AnthropicSimulator`` | ``ROOT`` | ``/v1/messages``, ``/v1/messages/count_tokens`` |
| ``workers-ai`` | ``WorkersAISimulator`` | ``ROOT/client/v4/accounts/{account_id}/ai`` | ``/run/{model}`` (``@cf/…`` with slashes), ``/v1/chat/completions``, ``/v1/embeddings`` |
| ``google-ai-studio`` | ``GoogleAIStudioSimulator`` | ``ROOT`` | ``/{v1,v1beta}/models/{m}:generateContent``, ``:streamGenerateContent[?alt=sse]``, ``:countTokens``, ``:embedContent`` |
| ``groq`` | ``GroqSimulator`` | ``ROOT/openai/v1`` | ``/chat/completions`` |
| ``mistral`` | ``MistralSimulator`` | ``ROOT/v1`` | ``/chat/completions``, ``/embeddings`` |
| ``deepseek`` | ``DeepSeekSimulator`` | ``ROOT`` (``ROOT/v1`` also works) | ``/chat/completions`` |
| ``grok`` | ``GrokSimulator`` | ``ROOT/v1`` | ``/chat/completions`` |
| ``perplexity-ai`` | ``PerplexitySimulator`` | ``ROOT`` | ``/chat/completions`` |
| ``openrouter`` | ``OpenRouterSimulator`` | ``ROOT/api/v1`` | ``/chat/completions`` |
| ``cerebras`` | ``CerebrasSimulator`` | ``ROOT/v1`` | ``/chat/completions`` |
| ``azure-openai`` | ``AzureOpenAISimulator`` | ``ROOT/{resource}/openai`` (literal placeholder) | ``/deployments/{deployment}/chat/completions?api-version=…``, ``…/embeddings``, ``/v1/chat/completions`` |
| ``aws-bedrock`` | ``AwsBedrockSimulator`` | ``ROOT`` (every region) | ``/model/{id}/invoke``, ``…/invoke-with-response-stream``, ``…/converse``, ``…/converse-stream`` (SigV4 checked; ``key`` = ``ACCESS_KEY_ID:SECRET``); the mantle host's ``/anthropic/v1/messages`` (option ``mantle_base_url``) |
| ``google-vertex-ai`` | ``GoogleVertexAISimulator`` | ``ROOT`` (every region) | ``/v1/projects/{p}/locations/{r}/publishers/google/models/{m}:{method}``, ``…/publishers/anthropic/models/{m}:rawPredict``/``:streamRawPredict``, ``/token`` (``key`` = a service account JSON; option ``token_url``) |
| ``cohere`` | ``CohereSimulator`` | ``ROOT`` | ``/v2/chat``, ``/v2/embed``, ``/v2/rerank`` |
| ``huggingface`` | ``HuggingFaceSimulator`` | ``ROOT/models`` | ``/{org}/{model}`` (text generation, TGI stream) |
| ``ollama`` | ``OllamaSimulator`` | ``ROOT`` | ``/api/chat``, ``/api/generate`` (NDJSON) |
| ``fireworks`` | ``FireworksSimulator`` | ``ROOT/inference/v1`` | ``/chat/completions`` |
| ``baseten`` | ``BasetenSimulator`` | ``ROOT/v1`` (deployments: ``ROOT/deployments/{model_id}``) | ``/chat/completions``; ``/{environment}/predict`` |
| ``replicate`` | ``ReplicateSimulator`` | ``ROOT/v1`` | ``/predictions``, ``/models/{owner}/{name}/predictions``, ``/predictions/{id}[/cancel]``, ``/stream/{id}`` (SSE) |
| ``cartesia``, ``elevenlabs``, ``deepgram``, ``fal``, ``ideogram`` | ``media.*Simulator`` | ``ROOT`` | see ``media``'s table |
| ``parallel`` | ``ParallelSimulator`` | ``ROOT`` | ``/v1/tasks/runs``, ``/v1/tasks/runs/{id}/result``, ``/v1beta/search`` |

Content: the reply echoes the last user message (or the ``reply`` knob), streamed as exactly
``chunks`` pieces; one token = one whitespace-separated word (``count_tokens``), prompt tokens
count every input text including system prompts; ``max_tokens``-style limits truncate the reply.

Knobs on every simulator (constructor keywords, also plain attributes; ``reset()`` restores them):

* ``key`` — the one valid API key (a missing/wrong key gets the provider's auth error);
* ``latency`` — seconds before the first byte of any response (status line included);
* ``chunks`` — content pieces per stream; ``chunk_delay`` — seconds between content pieces;
* ``reply`` — fixed reply text instead of the echo; ``retry_after`` — value of ``retry-after``
  (or Google's ``RetryInfo``) on 429/529;
* ``fail_next(status, count=1, message=None)`` — the next ``count`` requests get the provider's
  error for ``status`` (400/401/404/429/500/503/529…), then requests succeed again;
* ``fault_next(kind, count=1, after=1, delay=0.05)`` — after ``after`` content chunks:
  ``reset`` aborts with a TCP RST; ``malformed`` sends one unparseable frame and goes on;
  ``stall`` stops sending but keeps the socket open (until the client leaves or the simulator
  stops); ``error`` sends the provider's mid-stream error event and ends; ``slow_headers``
  writes the status line and each header line ``delay`` seconds apart. Non-streaming answers get
  the analogue (half a body then RST / truncated JSON / half a body then silence / a 500);
* ``requests`` / ``last_request`` — every request as received (method, path, raw_path, query,
  case-insensitive headers, body bytes, ``.json()``);
* ``streams_aborted`` / ``streams_finished`` — streams whose client went away mid-stream (a
  write failed) / streams that ended on the simulator's side (counters, zeroed by ``reset()``).

Triggers usable through a gateway (the model name may carry them anywhere inside it, e.g.
``gpt-4o-sim-fail-429``; for Google and Workers AI the model is the one in the path):

| trigger | effect |
|---|---|
| model ``sim-fail-<status>`` or header ``x-sim-fail: <status>`` | every such request fails with ``<status>`` |
| model ``sim-fail-<status>-x<n>`` or header ``x-sim-fail: <status>-x<n>`` | the first ``n`` such requests fail, later ones succeed (counted per simulator and per model/header value; ``reset()`` clears) |
| model ``sim-fault-<kind>[-after-<k>]`` or header ``x-sim-fault: <kind>[-after-<k>]`` | wire fault ``reset`` / ``malformed`` / ``stall`` / ``error`` / ``slow_headers`` after ``k`` content chunks (default 1) |

Starting them: ``async with Simulators("openai", "anthropic") as sims:`` (running loop) or
``with SimulatorsThread(...) as sims:`` (background thread); ``sims.base_urls()`` and
``sims.provider_settings()`` (``{slug: {"base_url", "key", …}}``, plus what a simulator's
``provider_options()`` adds, e.g. Baseten's ``deployment_url``) feed a gateway config. The pytest
plugin ``aigw.testing.fixtures`` provides ``aigw_simulators`` and ``aigw_sim_<slug>`` fixtures
built on the thread runner.
"""

from __future__ import annotations

try:
    import aiohttp  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "aigw.testing.simulators needs aiohttp, which is an optional dependency: "
        "install it with `pip install 'aigw[testing]'`"
    ) from exc

from ._core import (
    FAIL_HEADER,
    FAULT_HEADER,
    FAULT_KINDS,
    Fault,
    FaultKind,
    RecordedRequest,
    Simulator,
)
from ._harness import SIMULATORS, Simulators, SimulatorsThread
from ._text import count_tokens, embedding_vector, split_reply
from .anthropic import AnthropicSimulator
from .aws_bedrock import AwsBedrockSimulator
from .azure_openai import AzureOpenAISimulator
from .cohere import CohereSimulator
from .huggingface import HuggingFaceSimulator
from .media import CartesiaSimulator, DeepgramSimulator, ElevenLabsSimulator, FalSimulator, IdeogramSimulator
from .ollama import OllamaSimulator
from .google import GoogleAIStudioSimulator
from .google_vertex import GoogleVertexAISimulator
from .openai import OpenAISimulator
from .openai_compatible import (
    BasetenSimulator,
    CerebrasSimulator,
    DeepSeekSimulator,
    FireworksSimulator,
    GrokSimulator,
    GroqSimulator,
    MistralSimulator,
    OpenRouterSimulator,
    PerplexitySimulator,
)
from .parallel import ParallelSimulator
from .replicate import ReplicateSimulator
from .workers_ai import WorkersAISimulator

__all__ = [
    "FAIL_HEADER",
    "FAULT_HEADER",
    "FAULT_KINDS",
    "SIMULATORS",
    "AnthropicSimulator",
    "AwsBedrockSimulator",
    "AzureOpenAISimulator",
    "CartesiaSimulator",
    "DeepgramSimulator",
    "ElevenLabsSimulator",
    "FalSimulator",
    "IdeogramSimulator",
    "ReplicateSimulator",
    "BasetenSimulator",
    "CohereSimulator",
    "FireworksSimulator",
    "HuggingFaceSimulator",
    "OllamaSimulator",
    "ParallelSimulator",
    "CerebrasSimulator",
    "DeepSeekSimulator",
    "Fault",
    "FaultKind",
    "GoogleAIStudioSimulator",
    "GoogleVertexAISimulator",
    "GrokSimulator",
    "GroqSimulator",
    "MistralSimulator",
    "OpenAISimulator",
    "OpenRouterSimulator",
    "PerplexitySimulator",
    "RecordedRequest",
    "Simulator",
    "Simulators",
    "SimulatorsThread",
    "WorkersAISimulator",
    "base_url",
    "count_tokens",
    "embedding_vector",
    "split_reply",
]


def base_url(slug: str, simulators: Simulators) -> str:
    """The base URL to configure for provider ``slug`` (see the table above)."""
    return simulators.base_url(slug)
