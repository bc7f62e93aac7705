"""Ollama's native API as a local ``ollama serve`` answers it (providers.md §11).

* ``POST /api/chat`` (``messages``) and ``POST /api/generate`` (``prompt``); **streaming is the
  default**: ``application/x-ndjson``, one object per line, the last with ``"done": true``,
  ``done_reason`` and the counts ``prompt_eval_count`` / ``eval_count`` plus nanosecond
  durations; ``"stream": false`` answers that final object alone, with the whole text;
* ``options.num_predict`` limits the reply (``done_reason: "length"``);
* no auth (``key`` is ignored); errors ``{"error": "…"}``: an unknown model (``sim-missing``
  anywhere in the name) is 404 ``model "…" not found, try pulling it first``;
* mid-stream error: one more line ``{"error": "…"}``, then the end (status already 200).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, dumps, endpoint

NDJSON = "application/x-ndjson"
CREATED_AT = "2025-01-01T00:00:00.000Z"


class OllamaSimulator(Simulator):
    """A local Ollama server: chat and generate, NDJSON streams."""

    slug = "ollama"
    default_key = "sim-ollama-unused"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """``/api/chat`` and ``/api/generate``."""
        return [web.post("/api/chat", self.chat), web.post("/api/generate", self.generate)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Ollama has no auth."""
        return None

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error": "…"}``."""
        return {"error": message}, {}

    def stream_error_frame(self, call: Call) -> bytes:
        """An ``{"error": …}`` line."""
        return b'{"error":"Simulated mid-stream error"}\n'

    def malformed_frame(self, call: Call) -> bytes:
        """A line of truncated JSON."""
        return b'{"model":"' + call.model.encode() + b'","message":\n'

    @endpoint
    async def chat(self, call: Call) -> web.StreamResponse:
        """``/api/chat``: ``message`` objects."""
        messages = [m for m in call.body.get("messages") or [] if isinstance(m, dict)]
        prompt = sum(_text.count_tokens(_text.text_of(m.get("content"))) for m in messages)
        last_user = next((_text.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        return await self.answer(call, last_user, prompt, lambda text: {"message": {"role": "assistant", "content": text}})

    @endpoint
    async def generate(self, call: Call) -> web.StreamResponse:
        """``/api/generate``: ``response`` strings."""
        prompt_text = call.body.get("prompt") if isinstance(call.body.get("prompt"), str) else ""
        system = call.body.get("system") if isinstance(call.body.get("system"), str) else ""
        prompt = _text.count_tokens(prompt_text) + _text.count_tokens(system)
        return await self.answer(call, prompt_text, prompt, lambda text: {"response": text})

    async def answer(self, call: Call, last_user: str, prompt: int, shape: Any) -> web.StreamResponse:
        """The stream (default) or the final object alone (``"stream": false``)."""
        if "sim-missing" in call.model:
            return self.error_response(404, f'model "{call.model}" not found, try pulling it first')
        options = call.body.get("options") if isinstance(call.body.get("options"), dict) else {}
        limit = options.get("num_predict")
        reply, cut = _text.truncate_words(self.reply_text(last_user), limit if isinstance(limit, int) and limit >= 0 else None)
        out = _text.count_tokens(reply)
        final = {
            "model": call.model,
            "created_at": CREATED_AT,
            **shape("" if call.body.get("stream", True) is not False else reply),
            "done": True,
            "done_reason": "length" if cut else "stop",
            "total_duration": 200_000_000,
            "load_duration": 1_000_000,
            "prompt_eval_count": prompt,
            "prompt_eval_duration": 50_000_000,
            "eval_count": out,
            "eval_duration": 100_000_000,
        }
        if call.body.get("stream", True) is False:
            return await self.send_json(call, final)
        frames: list[Frame] = [
            ((dumps({"model": call.model, "created_at": CREATED_AT, **shape(piece), "done": False}) + "\n").encode(), True)
            for piece in self.pieces(reply)
        ]
        frames.append(((dumps(final) + "\n").encode(), False))
        return await self.send_stream(call, frames, content_type=NDJSON)
