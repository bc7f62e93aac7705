"""Cloudflare Workers AI as api.cloudflare.com serves it (providers.md §6).

* ``POST /client/v4/accounts/{account_id}/ai/run/{model}`` — the model keeps its slashes and
  ``@`` (``@cf/meta/llama-3.1-8b-instruct``); body ``{"prompt"}`` or ``{"messages"}``; answers
  in the v4 envelope ``{"result": {"response", "tool_calls", "usage"}, "success", "errors",
  "messages"}``; an embedding body ``{"text": [...]}`` gets ``result: {"shape", "data"}``;
* stream: data-only SSE ``{"response": piece, "p": padding}`` frames, then
  ``{"response": "", "usage": {...}}``, then ``data: [DONE]``;
* ``POST …/ai/v1/chat/completions`` and ``…/ai/v1/embeddings``: OpenAI shapes;
* errors: the envelope with ``success: false`` and a Workers AI code (401 → 10000
  "Authentication error", an unknown account → 404 code 7003). Mid-stream errors are not
  documented; the simulator sends the error envelope as a data frame.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, endpoint, sse
from .openai import OpenAIChatFamily, chat_prompt, openai_error

_CODES = {400: 5004, 401: 10000, 403: 10000, 404: 7003, 408: 3007, 413: 3006, 429: 3040}
_PADDING = "abcdefghijklmnop"


class WorkersAISimulator(OpenAIChatFamily):
    """api.cloudflare.com Workers AI: ``/ai/run/{model}`` in the v4 envelope, plus ``/ai/v1``."""

    slug = "workers-ai"
    default_key = "sim-cf-api-token"

    def __init__(self, *, account_id: str = "sim-account", **knobs: Any) -> None:
        self.account_id = account_id
        super().__init__(**knobs)

    @property
    def base_path(self) -> str:  # type: ignore[override]
        """``/client/v4/accounts/{account_id}/ai``: ``run/{model}`` and ``v1/...`` hang below."""
        return f"/client/v4/accounts/{self.account_id}/ai"

    def run_url(self, model: str) -> str:
        """The full URL of ``run/{model}`` on this simulator."""
        return f"{self.base_url()}/run/{model}"

    def routes(self) -> list[web.RouteDef]:
        """``run/{model…}`` plus OpenAI-compatible ``v1/chat/completions`` and ``v1/embeddings``."""
        root = "/client/v4/accounts/{account}/ai"
        return [
            web.post(root + "/run/{model:.+}", self.run),
            web.post(root + "/v1/chat/completions", self.chat_completions),
            web.post(root + "/v1/embeddings", self.embeddings),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Bearer token must equal ``key`` and the account must be ``account_id``."""
        if self.bearer_key(request) != self.key:
            return self.error_response(401, "Authentication error")
        account = request.match_info.get("account")
        if account != self.account_id:
            return self.error_response(
                404,
                f"Could not route to /client/v4/accounts/{account}/ai,"
                " perhaps your object identifier is invalid?",
            )
        return None

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """The v4 envelope with ``success: false`` and a Workers AI error code."""
        code = _CODES.get(status, 3043)
        return {
            "result": None,
            "success": False,
            "errors": [{"code": code, "message": message}],
            "messages": [],
        }, {}

    def rate_limit_headers(self) -> dict[str, str]:
        """Workers AI sends no retry hints on 429."""
        return {}

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Cloudflare's ray id."""
        return {"cf-ray": f"{call.id if call else 'error'}-SIM"}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The model is the path after ``run/`` (``v1`` routes take it from the body)."""
        return request.match_info.get("model") or super().model_of(request, body)

    def stream_error_frame(self, call: Call) -> bytes:
        """``/v1``: OpenAI's error frame; ``run``: the error envelope as a data frame."""
        if call.extra.get("api") == "run":
            return sse(self.error_body(500, "Simulated mid-stream error")[0])
        return sse(openai_error(500, "Simulated mid-stream error"))

    @endpoint
    async def run(self, call: Call) -> web.StreamResponse:
        """Answer ``run/{model}``: text generation, or embeddings for a ``text`` body."""
        call.extra["api"] = "run"
        body = call.body
        if "text" in body and "prompt" not in body and "messages" not in body:
            texts = body["text"] if isinstance(body["text"], list) else [body["text"]]
            data = [_text.embedding_vector(str(t)) for t in texts]
            result = {
                "shape": [len(data), len(data[0]) if data else 0],
                "data": data,
                "pooling": "mean",
            }
            return await self.send_json(call, _envelope(result))
        if isinstance(body.get("prompt"), str):
            last_user, prompt_tokens = body["prompt"], _text.count_tokens(body["prompt"])
        else:
            last_user, prompt_tokens = chat_prompt(body)
        limit = body.get("max_tokens")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        reply, _cut = _text.truncate_words(self.reply_text(last_user), limit)
        usage = super().usage(prompt_tokens, _text.count_tokens(reply))
        if not call.stream:
            return await self.send_json(
                call, _envelope({"response": reply, "tool_calls": [], "usage": usage})
            )
        frames: list[Frame] = [
            (sse({"response": piece, "p": _PADDING[: 1 + index % len(_PADDING)]}), True)
            for index, piece in enumerate(self.pieces(reply))
        ]
        frames.append((sse({"response": "", "usage": usage}), False))
        frames.append((sse("[DONE]"), False))
        return await self.send_stream(call, frames)


def _envelope(result: Any) -> dict[str, Any]:
    return {"result": result, "success": True, "errors": [], "messages": []}
