"""Hugging Face's serverless Inference API (legacy, what Cloudflare's slug proxies; providers.md §9).

* ``POST /models/{org}/{model}`` with a task body ``{"inputs": …, "parameters": {…},
  "stream": bool}``; text generation answers ``[{"generated_text": "…"}]`` (the prompt is not
  repeated: ``return_full_text`` false), plus ``details`` with ``generated_tokens`` when
  ``parameters.details`` is true;
* stream: TGI's data-only SSE **without a space after** ``data:``, one token per frame, the last
  frame with ``generated_text`` and ``details.generated_tokens``; no ``[DONE]``;
* auth ``Authorization: Bearer hf_…``; errors ``{"error": "…"}``; 503 while "loading" (a model
  name containing ``sim-loading``) with ``estimated_time``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, dumps, endpoint

LOADING_ESTIMATE = 0.2


class HuggingFaceSimulator(Simulator):
    """api-inference.huggingface.co/models: text generation with TGI streams."""

    slug = "huggingface"
    default_key = "hf_sim_key"
    base_path = "/models"

    def routes(self) -> list[web.RouteDef]:
        """``POST /models/{org}/{model}``."""
        return [web.post("/models/{org}/{model}", self.generate)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Bearer equal to ``key``."""
        if self.bearer_key(request) == self.key:
            return None
        return self.error_response(401, "Invalid credentials in Authorization header")

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``org/model`` from the path."""
        return f"{request.match_info['org']}/{request.match_info['model']}"

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error": "…"}`` (503 adds ``estimated_time``)."""
        if status == 503:
            return {"error": "Model is currently loading", "estimated_time": LOADING_ESTIMATE}, {}
        if status == 429:
            message = "Rate limit reached. You reached free usage limit (reset hourly)."
        return {"error": message}, {}

    def stream_error_frame(self, call: Call) -> bytes:
        """TGI's ``data:{"error": …, "error_type": "generation"}``."""
        return b'data:{"error":"Simulated mid-stream error","error_type":"generation"}\n\n'

    def malformed_frame(self, call: Call) -> bytes:
        """A frame of truncated JSON."""
        return b'data:{"index":1,"token":\n\n'

    @endpoint
    async def generate(self, call: Call) -> web.StreamResponse:
        """Text generation over ``inputs``."""
        if "sim-loading" in call.model:
            return self.error_response(503)
        inputs = call.body.get("inputs") if isinstance(call.body.get("inputs"), str) else ""
        params = call.body.get("parameters") if isinstance(call.body.get("parameters"), dict) else {}
        limit = params.get("max_new_tokens")
        reply, cut = _text.truncate_words(self.reply_text(inputs), limit if isinstance(limit, int) else None)
        details = {"finish_reason": "length" if cut else "eos_token", "generated_tokens": _text.count_tokens(reply), "seed": None}
        if not call.stream:
            answer: dict[str, Any] = {"generated_text": reply}
            if params.get("details") is True:
                answer["details"] = details
            return await self.send_json(call, [answer])
        pieces = self.pieces(reply)
        frames: list[Frame] = []
        for index, piece in enumerate(pieces, 1):
            last = index == len(pieces)
            frame = {
                "index": index,
                "token": {"id": 1000 + index, "text": piece, "logprob": -0.1, "special": False},
                "generated_text": reply if last else None,
                "details": details if last else None,
            }
            frames.append((b"data:" + dumps(frame).encode() + b"\n\n", True))
        return await self.send_stream(call, frames)
