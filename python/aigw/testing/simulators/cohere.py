"""Cohere v2 as api.cohere.ai serves it (providers.md §7).

* ``POST /v2/chat`` (stream or not), ``POST /v2/embed``, ``POST /v2/rerank``;
* auth ``Authorization: Bearer <key>`` or ``Token <key>``; a bad key is 401
  ``{"id": "…", "message": "invalid api token"}``;
* chat answer: ``message.content[{type: text, text}]``, ``finish_reason`` ``COMPLETE`` or
  ``MAX_TOKENS``, ``usage.billed_units`` (words) and ``usage.tokens`` (raw, + a 64-token
  preamble as the real API counts its system prompt);
* stream: SSE with ``event:`` = ``type``: ``message-start``, ``content-start``,
  ``content-delta``*, ``content-end``, ``message-end`` (``delta.usage``), then ``data: [DONE]``
  (``sends_done`` knob: the trailing [DONE] is not guaranteed);
* embed: ``embeddings.float`` per input, ``meta.billed_units.input_tokens``; rerank: results
  by relevance, ``meta.billed_units.search_units``;
* errors ``{"id", "message"}``; 429 with the trial-key message; mid-stream error (assumed,
  undocumented): ``message-end`` with ``finish_reason: ERROR``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, endpoint, sse

PREAMBLE_TOKENS = 64


class CohereSimulator(Simulator):
    """api.cohere.ai v2: chat, embed, rerank."""

    slug = "cohere"
    default_key = "sim-cohere-key"
    base_path = ""
    sends_done = True

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self._defaults["sends_done"] = self.sends_done

    def routes(self) -> list[web.RouteDef]:
        """``/v2/chat``, ``/v2/embed``, ``/v2/rerank``."""
        return [
            web.post("/v2/chat", self.chat),
            web.post("/v2/embed", self.embed),
            web.post("/v2/rerank", self.rerank),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Bearer`` or ``Token`` equal to ``key``."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip() == self.key:
            return None
        return self.error_response(401, "invalid api token")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"id", "message"}``."""
        if status == 429:
            message = "You are using a Trial key, which is limited to 10 API calls / minute."
        return {"id": "sim-cohere-error", "message": message}, {}

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """``x-trial-endpoint-call-*`` and a request id."""
        return {"x-trial-endpoint-call-limit": "10", "x-trial-endpoint-call-remaining": "9", "x-request-id": call.id if call else "error"}

    def stream_error_frame(self, call: Call) -> bytes:
        """``message-end`` with ``finish_reason: ERROR`` (assumed shape)."""
        end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "Simulated mid-stream error"}}
        return sse(end, event="message-end")

    def malformed_frame(self, call: Call) -> bytes:
        """A ``content-delta`` event with truncated JSON."""
        return b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":\n\n'

    @endpoint
    async def chat(self, call: Call) -> web.StreamResponse:
        """Answer ``/v2/chat``."""
        messages = [m for m in call.body.get("messages") or [] if isinstance(m, dict)]
        prompt = sum(_text.count_tokens(_text.text_of(m.get("content"))) for m in messages)
        last_user = next((_text.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        limit = call.body.get("max_tokens")
        reply, cut = _text.truncate_words(self.reply_text(last_user), limit if isinstance(limit, int) else None)
        out = _text.count_tokens(reply)
        finish = "MAX_TOKENS" if cut else "COMPLETE"
        usage = {
            "billed_units": {"input_tokens": prompt, "output_tokens": out},
            "tokens": {"input_tokens": prompt + PREAMBLE_TOKENS, "output_tokens": out},
            "cached_tokens": 0,
        }
        chat_id = f"c-{call.id}"
        if not call.stream:
            message = {"role": "assistant", "content": [{"type": "text", "text": reply}]}
            return await self.send_json(call, {"id": chat_id, "finish_reason": finish, "message": message, "usage": usage})
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        frames: list[Frame] = [
            (sse({"id": chat_id, "type": "message-start", "delta": {"message": start}}, event="message-start"), False),
            (sse({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}, event="content-start"), False),
        ]
        for piece in self.pieces(reply):
            delta = {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}}
            frames.append((sse(delta, event="content-delta"), True))
        frames.append((sse({"type": "content-end", "index": 0}, event="content-end"), False))
        end = {"type": "message-end", "delta": {"finish_reason": finish, "usage": usage}}
        frames.append((sse(end, event="message-end"), False))
        if self.sends_done:
            frames.append((sse("[DONE]"), False))
        return await self.send_stream(call, frames)

    @endpoint
    async def embed(self, call: Call) -> web.StreamResponse:
        """Answer ``/v2/embed``: one vector per text in ``embeddings.float``."""
        texts = [t for t in call.body.get("texts") or [] if isinstance(t, str)]
        tokens = sum(_text.count_tokens(t) for t in texts)
        body = {
            "id": f"e-{call.id}",
            "embeddings": {"float": [_text.embedding_vector(t) for t in texts]},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
        }
        return await self.send_json(call, body)

    @endpoint
    async def rerank(self, call: Call) -> web.StreamResponse:
        """Answer ``/v2/rerank``: documents ordered by words shared with the query."""
        query = set(str(call.body.get("query", "")).lower().split())
        docs = [d if isinstance(d, str) else _text.text_of(d) for d in call.body.get("documents") or []]
        scored = sorted(
            ((len(query & set(d.lower().split())) / (len(query) or 1), i) for i, d in enumerate(docs)),
            key=lambda pair: (-pair[0], pair[1]),
        )
        top = call.body.get("top_n")
        results = [{"index": i, "relevance_score": score} for score, i in scored][: top if isinstance(top, int) else None]
        body = {"id": f"r-{call.id}", "results": results, "meta": {"api_version": {"version": "2"}, "billed_units": {"search_units": 1}}}
        return await self.send_json(call, body)
