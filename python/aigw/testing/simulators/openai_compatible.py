"""The OpenAI-compatible family, each with the quirks providers.md §8 records.

| Simulator | Quirks on the wire |
|---|---|
| ``GroqSimulator`` | ``x_groq: {id}`` on the first chunk, ``x_groq.usage`` (with timing fields) on the finishing chunk; ``x-ratelimit-*`` headers |
| ``MistralSimulator`` | ``usage`` on the last chunk without ``stream_options``; errors ``{"object": "error", …}``, 401 ``{"message": "Unauthorized", "request_id"}``; ``/v1/embeddings`` |
| ``DeepSeekSimulator`` | ``: keep-alive`` comments before the first chunk, blank lines before non-streaming JSON; ``prompt_cache_hit/miss_tokens``; served with and without ``/v1`` |
| ``GrokSimulator`` | invalid key → **400** flat ``{"code": "…", "error": "Incorrect API key provided: …"}``; all errors flat |
| ``PerplexitySimulator`` | **CRLF** framing, **no [DONE]**, ``usage`` + ``citations`` + cumulative ``message`` on every chunk; no ``/v1`` |
| ``OpenRouterSimulator`` | ``: OPENROUTER PROCESSING`` comments; final-chunk ``usage`` with ``cost``; ``X-Generation-Id``; errors ``{"error": {"code": <status>, "message"}}``; mid-stream error = chunk with ``error`` + ``finish_reason: "error"`` |
| ``FireworksSimulator`` | base ``/inference/v1``; ``usage`` on the finishing chunk without ``stream_options`` |
| ``BasetenSimulator`` | Model APIs at ``/v1``; a dedicated deployment's ``/deployments/{model_id}/{environment}/predict`` (stands for ``model-{id}.api.baseten.co``) answering ``{"output": …}``; auth ``Bearer`` or ``Api-Key`` |
| ``CerebrasSimulator`` | final chunk ``usage`` + ``time_info``; flat errors (401 ``wrong_api_key``, missing key 403 ``{"detail": "Not authenticated"}``); ``x-ratelimit-*-requests-day`` headers |

Mid-stream error shapes that no public source pins down (Mistral, Cerebras, Perplexity,
DeepSeek, Groq) follow each provider's HTTP error body inside a ``data:`` frame.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._core import Call, endpoint, sse
from .openai import OpenAIChatFamily, openai_error

_TIMING = {"queue_time": 0.001, "prompt_time": 0.002, "completion_time": 0.003, "total_time": 0.006}


class GroqSimulator(OpenAIChatFamily):
    """api.groq.com/openai/v1: ``x_groq`` usage on the finishing chunk."""

    slug = "groq"
    default_key = "gsk_sim_groq"
    base_path = "/openai/v1"

    def invalid_key_message(self, request: web.Request) -> str:
        """Groq says just "Invalid API Key"."""
        return "Invalid API Key"

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """OpenAI usage plus Groq's timing fields."""
        return {**super().usage(prompt_tokens, completion_tokens), **_TIMING}

    def completion_extras(self, call: Call, usage: dict[str, Any]) -> dict[str, Any]:
        """Top-level ``x_groq: {id}``."""
        return {"x_groq": {"id": f"req_{call.id}"}}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """First chunk: ``x_groq.id``; finishing chunk: ``x_groq.usage``."""
        if index == 0:
            chunk["x_groq"] = {"id": f"req_{call.id}"}
        if final:
            chunk["x_groq"] = {"id": f"req_{call.id}", "usage": usage}
        return chunk

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Groq's rate-limit headers (requests per day, tokens per minute)."""
        return {
            **super().response_headers(call),
            "x-ratelimit-limit-requests": "14400",
            "x-ratelimit-limit-tokens": "6000",
            "x-ratelimit-remaining-requests": "14399",
            "x-ratelimit-remaining-tokens": "5990",
            "x-ratelimit-reset-requests": "6s",
            "x-ratelimit-reset-tokens": "100ms",
        }

    def rate_limit_headers(self) -> dict[str, str]:
        """On 429: remaining 0, reset durations and ``retry-after``."""
        return {
            **super().rate_limit_headers(),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "2m59.56s",
            "x-ratelimit-reset-tokens": "7.66s",
        }


class MistralSimulator(OpenAIChatFamily):
    """api.mistral.ai/v1: usage in the last chunk; non-OpenAI error bodies; embeddings."""

    slug = "mistral"
    default_key = "sim-mistral-key"
    base_path = "/v1"

    def routes(self) -> list[web.RouteDef]:
        """Chat completions and ``/v1/embeddings``."""
        return [*super().routes(), web.post("/v1/embeddings", self.embeddings)]

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """401 ``{"message": "Unauthorized", "request_id"}``; others ``{"object": "error", …}``."""
        if status == 401:
            return {"message": "Unauthorized", "request_id": "sim-mistral-request"}, {}
        kind = "invalid_request_error" if status < 500 else "internal_server_error"
        body = {"object": "error", "message": message, "type": kind, "param": None, "code": None}
        return body, {}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """The finishing chunk carries ``usage`` even without ``stream_options``."""
        if final:
            chunk["usage"] = usage
        return chunk

    def stream_error_frame(self, call: Call) -> bytes:
        """Mistral's error object as a data frame (assumed; not documented)."""
        return sse(self.error_body(500, "Simulated mid-stream error")[0])


class DeepSeekSimulator(OpenAIChatFamily):
    """api.deepseek.com: ``: keep-alive`` comments while "busy", cache-hit usage fields."""

    slug = "deepseek"
    default_key = "sk-sim-deepseek"
    base_path = ""
    chat_prefixes = ("/v1",)
    prelude_comments = ("keep-alive", "keep-alive")

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """OpenAI usage plus cache hit/miss split and reasoning tokens."""
        return {
            **super().usage(prompt_tokens, completion_tokens),
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
            "prompt_cache_hit_tokens": 0,
            "prompt_cache_miss_tokens": prompt_tokens,
        }

    def json_prefix(self) -> bytes:
        """Blank lines before the JSON, as DeepSeek sends while a request waits."""
        return b"\n\n"

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """Without ``include_usage`` the finishing chunk carries ``usage``."""
        if final and "usage" not in chunk:
            chunk["usage"] = usage
        return chunk


class GrokSimulator(OpenAIChatFamily):
    """api.x.ai/v1: flat error bodies; a bad key is a 400."""

    slug = "grok"
    default_key = "xai-sim-grok"
    base_path = "/v1"

    def check_auth(self, request: web.Request) -> web.Response | None:
        """A missing or wrong key gets xAI's 400 flat body."""
        if self.bearer_key(request) == self.key:
            return None
        key = self.bearer_key(request) or ""
        return self.error_response(
            400,
            f"Incorrect API key provided: {key[:2]}***{key[-3:]}. "
            "You can obtain an API key from https://console.x.ai.",
        )

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"code": "<gRPC-ish text>", "error": "<message>"}``."""
        code = {
            400: "Client specified an invalid argument",
            401: "Unauthenticated",
            404: "Some requested entity was not found",
            429: "Too many requests",
        }.get(status, "Internal error")
        return {"code": code, "error": message}, {}

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """OpenAI usage plus cached/reasoning details and ``num_sources_used``."""
        return {
            **super().usage(prompt_tokens, completion_tokens),
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
            "num_sources_used": 0,
        }

    def stream_error_frame(self, call: Call) -> bytes:
        """The flat error body as a data frame."""
        return sse(self.error_body(500, "Simulated mid-stream error")[0])


class PerplexitySimulator(OpenAIChatFamily):
    """api.perplexity.ai: CRLF framing, usage on every chunk, no [DONE]."""

    slug = "perplexity-ai"
    default_key = "pplx-sim"
    base_path = ""
    sse_eol = "\r\n"
    sends_done = False
    honours_include_usage = False

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """OpenAI usage plus search/citation fields and a cost breakdown."""
        return {
            **super().usage(prompt_tokens, completion_tokens),
            "citation_tokens": 0,
            "num_search_queries": 1,
            "reasoning_tokens": 0,
            "search_context_size": "low",
            "cost": {"input_tokens_cost": 0.0, "output_tokens_cost": 0.0, "total_cost": 0.0},
        }

    def completion_extras(self, call: Call, usage: dict[str, Any]) -> dict[str, Any]:
        """Top-level ``citations`` and ``search_results``."""
        return {"citations": ["https://example.com/sim"], "search_results": []}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """Every chunk: ``usage``, ``citations`` and the cumulative ``message``."""
        chunk["usage"] = usage
        chunk["citations"] = ["https://example.com/sim"]
        chunk["choices"][0]["message"] = {"role": "assistant", "content": call.extra["text_so_far"]}
        return chunk


class OpenRouterSimulator(OpenAIChatFamily):
    """openrouter.ai/api/v1: processing comments, ``cost`` in usage, ``X-Generation-Id``."""

    slug = "openrouter"
    default_key = "sk-or-sim"
    base_path = "/api/v1"
    prelude_comments = ("OPENROUTER PROCESSING",)

    def invalid_key_message(self, request: web.Request) -> str:
        """OpenRouter's auth messages."""
        return (
            "No auth credentials found" if self.bearer_key(request) is None else "User not found."
        )

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error": {"code": <status>, "message", "metadata"}}``."""
        return {"error": {"code": status, "message": message, "metadata": {}}}, {}

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """OpenAI usage plus ``cost``."""
        return {**super().usage(prompt_tokens, completion_tokens), "cost": 0.0}

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """``X-Generation-Id`` identifies the generation."""
        return {"X-Generation-Id": f"gen-{call.id if call else 'error'}"}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """The finishing chunk carries ``usage``."""
        chunk["provider"] = "SimProvider"
        if final:
            chunk["usage"] = usage
        return chunk

    def stream_error_frame(self, call: Call) -> bytes:
        """A normal chunk with ``error`` and ``finish_reason: "error"`` (OpenRouter docs)."""
        chunk = {
            "id": f"chatcmpl-{call.id}",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": call.model,
            "provider": "SimProvider",
            "error": {"code": 502, "message": "Simulated mid-stream error"},
            "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}],
        }
        return sse(chunk)


class CerebrasSimulator(OpenAIChatFamily):
    """api.cerebras.ai/v1: ``time_info`` next to usage; flat error bodies."""

    slug = "cerebras"
    default_key = "csk-sim"
    base_path = "/v1"

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Missing key: 403 ``{"detail": "Not authenticated"}``; wrong key: 401 flat."""
        key = self.bearer_key(request)
        if key == self.key:
            return None
        if key is None:
            return web.json_response({"detail": "Not authenticated"}, status=403)
        return self.error_response(401, "Wrong API Key")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"message", "type", "param", "code"}`` without an ``error`` wrapper."""
        code = {401: "wrong_api_key", 404: "model_not_found", 429: "request_quota_exceeded"}
        body = openai_error(status, message)["error"]
        body["code"] = code.get(status, body["code"])
        if status == 401:
            body["param"] = "api_key"
        return body, {}

    def completion_extras(self, call: Call, usage: dict[str, Any]) -> dict[str, Any]:
        """Top-level ``time_info``."""
        return {"time_info": {**_TIMING, "created": 1_700_000_000.0}}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """The finishing chunk carries ``usage`` and ``time_info``."""
        if final:
            chunk["usage"] = usage
            chunk["time_info"] = {**_TIMING, "created": 1_700_000_000.0}
        return chunk

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Cerebras's per-day / per-minute rate-limit headers."""
        return {
            **super().response_headers(call),
            "x-ratelimit-limit-requests-day": "14400",
            "x-ratelimit-limit-tokens-minute": "60000",
            "x-ratelimit-remaining-requests-day": "14399",
            "x-ratelimit-remaining-tokens-minute": "59990",
            "x-ratelimit-reset-requests-day": "3600.0",
            "x-ratelimit-reset-tokens-minute": "60.0",
        }

    def rate_limit_headers(self) -> dict[str, str]:
        """On 429: remaining requests 0 and ``retry-after``."""
        return {**super().rate_limit_headers(), "x-ratelimit-remaining-requests-day": "0"}


class FireworksSimulator(OpenAIChatFamily):
    """api.fireworks.ai/inference/v1: OpenAI chat with usage on the finishing chunk."""

    slug = "fireworks"
    default_key = "fw_sim_key"
    base_path = "/inference/v1"

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """The finishing chunk carries ``usage``."""
        if final:
            chunk["usage"] = usage
        return chunk


class BasetenSimulator(OpenAIChatFamily):
    """inference.baseten.co/v1 (Model APIs) and a dedicated deployment's predict endpoint."""

    slug = "baseten"
    default_key = "sim-baseten-key"
    base_path = "/v1"

    def routes(self) -> list[web.RouteDef]:
        """Chat completions and ``/deployments/{model_id}/{environment}/predict``."""
        return [*super().routes(), web.post("/deployments/{model_id}/{environment}/predict", self.predict)]

    def provider_options(self) -> dict[str, str]:
        """``deployment_url``: where deployments live on this simulator."""
        return {"deployment_url": self.url + "/deployments/{model_id}"}

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Bearer`` or ``Api-Key`` equal to ``key``."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "api-key") and token.strip() == self.key:
            return None
        return self.error_response(401, "Invalid API key")

    @endpoint
    async def predict(self, call: Call) -> web.StreamResponse:
        """A deployment's answer: ``{"output": <the prompt echoed>}``."""
        prompt = call.body.get("prompt") if isinstance(call.body.get("prompt"), str) else ""
        return await self.send_json(call, {"output": self.reply_text(prompt), "model_id": call.request.match_info["model_id"]})
