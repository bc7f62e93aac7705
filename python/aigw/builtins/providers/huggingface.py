"""Hugging Face Inference: `/huggingface/{org}/{model}` to the serverless inference API.

Cloudflare proxies `https://api-inference.huggingface.co/models/` (now served as
`https://router.huggingface.co/hf-inference/models/`): the endpoint is the model id, the body a
task-shaped JSON (`{"inputs": …, "parameters": …}`), auth `Authorization: Bearer hf_…`
(providers.md §9). Text generation streams TGI's data-only SSE (often `data:` without a space),
with no `[DONE]`: the frame with a non-null `generated_text` is last and its
`details.generated_tokens` is the only usage reported (output tokens). A model that is still
loading answers 503 with `estimated_time` seconds: retried after that long. Endpoints starting
with `v1/` (the router's OpenAI-compatible API, base `https://router.huggingface.co`) read
OpenAI usage as well.
"""

from __future__ import annotations

from typing import Any, Mapping

from aigw.providers import HttpProvider, classify_http_error, int_or_none, loads_or_none, openai_usage
from aigw.types import Call, ErrorClass, Usage


class HuggingFaceProvider(HttpProvider):
    """The serverless Inference API, one model per URL."""

    name = "huggingface"
    default_base_url = "https://api-inference.huggingface.co/models"
    stream_terminator = b"[DONE]"  # the OpenAI-compatible router sends it; TGI does not
    usage_events = (0, 1)

    def expects_stream_terminator(self, call: Call) -> bool:
        """The OpenAI-compatible routes (`.../v1/chat/completions`) end with [DONE]; a TGI
        `generate_stream` does not."""
        return "/v1/" in f"/{call.endpoint.lstrip('/')}" or call.endpoint.endswith("chat/completions")

    def usage_from_body(self, body: bytes) -> Usage | None:
        """`details.generated_tokens` of a generation (a list of one), or OpenAI `usage`."""
        doc = loads_or_none(body)
        if isinstance(doc, list) and doc:
            doc = doc[0]
        return self.usage_from_event(doc) if isinstance(doc, dict) else None

    def usage_from_event(self, doc: dict) -> Usage | None:
        """TGI's last frame (`details.generated_tokens`), or OpenAI `usage`."""
        details = doc.get("details")
        if isinstance(details, dict):
            generated = int_or_none(details.get("generated_tokens"))
            if generated is not None:
                return Usage(None, generated)
        return openai_usage(doc.get("usage"))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """A loading model (503 with `estimated_time`) is retried after the estimate."""
        verdict = classify_http_error(status, headers)
        if status == 503 and verdict.retry_after is None:
            doc: Any = loads_or_none(body)
            estimate = doc.get("estimated_time") if isinstance(doc, dict) else None
            if isinstance(estimate, (int, float)) and not isinstance(estimate, bool) and estimate >= 0:
                verdict.retry_after = float(estimate)
        return verdict
