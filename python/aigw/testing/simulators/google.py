"""Google AI Studio (Gemini API, native) as generativelanguage.googleapis.com serves it (§4).

* ``POST /{v1|v1beta}/models/{model}:generateContent`` → one ``GenerateContentResponse``;
* ``:streamGenerateContent?alt=sse`` → data-only SSE, every frame ended by ``\\r\\n\\r\\n``, each a
  complete response chunk with cumulative ``usageMetadata``; **no [DONE]** — the body just ends;
  without ``alt=sse`` the same endpoint streams one JSON array (``[{…}\\r\\n,{…}]``);
* ``:countTokens`` → ``{"totalTokens"}``, ``:embedContent`` → ``{"embedding": {"values"}}``;
* auth: ``x-goog-api-key`` header or ``?key=``; a wrong key is **400** ``INVALID_ARGUMENT``
  with reason ``API_KEY_INVALID``, a missing key 403 ``PERMISSION_DENIED``;
* errors: ``{"error": {"code", "message", "status"[, "details"]}}``; 429 carries a
  ``google.rpc.RetryInfo`` detail and no ``retry-after`` header; mid-stream error = that
  object as a final data frame.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, dumps, endpoint, sse

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


def google_error(status: int, message: str, details: list[Any] | None = None) -> dict[str, Any]:
    """Google's RPC error body."""
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def gemini_prompt(body: dict[str, Any]) -> tuple[str, int]:
    """Return (last user text, prompt token count incl. ``systemInstruction``)."""
    contents = [c for c in body.get("contents") or [] if isinstance(c, dict)]
    tokens = sum(_text.count_tokens(_text.text_of(c)) for c in contents)
    system = body.get("systemInstruction") or body.get("system_instruction")
    tokens += _text.count_tokens(_text.text_of(system))
    last_user = next(
        (_text.text_of(c) for c in reversed(contents) if c.get("role", "user") == "user"), ""
    )
    return last_user, tokens


class GoogleAIStudioSimulator(Simulator):
    """generativelanguage.googleapis.com: generateContent / streamGenerateContent, v1 and v1beta."""

    slug = "google-ai-studio"
    default_key = "AIzaSim-google-key"
    base_path = ""
    sse_eol = "\r\n"

    def routes(self) -> list[web.RouteDef]:
        """``POST /{v1|v1beta}/models/{model}:{method}``."""
        return [web.post("/{version:v1beta|v1}/models/{target}", self.model_method)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Key from ``x-goog-api-key`` or ``?key=``; wrong → 400 API_KEY_INVALID, none → 403."""
        key = request.headers.get("x-goog-api-key") or request.query.get("key")
        if key == self.key:
            return None
        if not key:
            message = (
                "Method doesn't allow unregistered callers (callers without established identity)."
                " Please use API Key or other form of API consumer identity to call this API."
            )
            return self.error_response(403, message)
        body = google_error(400, "API key not valid. Please pass a valid API key.", [_KEY_INVALID])
        return web.Response(status=400, text=dumps(body), content_type="application/json")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """Google RPC error; 429 adds a ``RetryInfo`` detail."""
        details = None
        if status == 429:
            delay = f"{int(self.retry_after)}s"
            details = [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay}]
        return google_error(status, message, details), {}

    def rate_limit_headers(self) -> dict[str, str]:
        """No ``retry-after`` header: the hint is in the body."""
        return {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The model is the path segment before ``:``."""
        return request.match_info.get("target", "").rpartition(":")[0]

    def stream_error_frame(self, call: Call) -> bytes:
        """The RPC error object as a final SSE frame (or array element)."""
        error = google_error(500, "An internal error has occurred. (simulated)")
        if call.extra.get("framing") == "array":
            return f",\r\n{dumps(error)}]".encode()
        return sse(error, eol=self.sse_eol)

    def malformed_frame(self, call: Call) -> bytes:
        """A chunk whose JSON is cut short."""
        if call.extra.get("framing") == "array":
            return b',\r\n{"candidates":[{"content":'
        return b'data: {"candidates":[{"content":\r\n\r\n'

    @endpoint
    async def model_method(self, call: Call) -> web.StreamResponse:
        """Dispatch on the method after ``:`` in the path."""
        target = call.request.match_info["target"]
        model, _, method = target.rpartition(":")
        version = call.request.match_info["version"]
        if method == "generateContent":
            return await self._generate(call, stream=False)
        if method == "streamGenerateContent":
            return await self._generate(call, stream=True)
        if method == "countTokens":
            return await self.send_json(call, {"totalTokens": gemini_prompt(call.body)[1]})
        if method == "embedContent":
            text = _text.text_of(call.body.get("content"))
            return await self.send_json(
                call, {"embedding": {"values": _text.embedding_vector(text)}}
            )
        return self.error_response(
            404,
            f"models/{model or target} is not found for API version {version},"
            f" or {method or 'this'} is not supported.",
        )

    async def _generate(self, call: Call, *, stream: bool) -> web.StreamResponse:
        last_user, prompt_tokens = gemini_prompt(call.body)
        limit = (call.body.get("generationConfig") or {}).get("maxOutputTokens")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        reply, cut = _text.truncate_words(self.reply_text(last_user), limit)
        finish = "MAX_TOKENS" if cut else "STOP"
        if not stream:
            chunk = self._chunk(call, reply, finish, prompt_tokens, _text.count_tokens(reply))
            return await self.send_json(call, chunk)
        pieces = self.pieces(reply)
        chunks = []
        so_far = ""
        for index, piece in enumerate(pieces):
            so_far += piece
            last = index == len(pieces) - 1
            chunks.append(
                self._chunk(
                    call, piece, finish if last else None, prompt_tokens, _text.count_tokens(so_far)
                )
            )
        if call.request.query.get("alt") == "sse":
            frames: list[Frame] = [(sse(chunk, eol=self.sse_eol), True) for chunk in chunks]
            return await self.send_stream(call, frames, content_type="text/event-stream")
        call.extra["framing"] = "array"
        parts = [("[" if i == 0 else ",\r\n") + dumps(c) for i, c in enumerate(chunks)]
        frames = [(p.encode(), True) for p in parts] + [(b"]", False)]
        return await self.send_stream(call, frames, content_type="application/json; charset=UTF-8")

    def _chunk(
        self, call: Call, text: str, finish: str | None, prompt_tokens: int, output_tokens: int
    ) -> dict[str, Any]:
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": text}], "role": "model"},
            "index": 0,
        }
        if finish is not None:
            candidate["finishReason"] = finish
        return {
            "candidates": [candidate],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": output_tokens,
                "totalTokenCount": prompt_tokens + output_tokens,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            },
            "modelVersion": call.model,
            "responseId": f"r-{call.id}",
        }
