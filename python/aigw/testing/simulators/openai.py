"""OpenAI: chat completions, the Responses API and embeddings, as api.openai.com/v1 serves them.

``OpenAIChatFamily`` is the chat-completions wire shared with every OpenAI-compatible provider
(see ``openai_compatible``); its class attributes and ``decorate_chunk`` carry the quirks.
``OpenAISimulator`` adds ``/v1/responses`` and ``/v1/embeddings``.

Wire facts simulated (providers.md §1):
* chat stream: data-only SSE, ``data: [DONE]`` last; with ``stream_options.include_usage`` an
  extra ``choices: []`` chunk carries ``usage`` and every other chunk has ``"usage": null``;
* mid-stream error: ``data: {"error": {...}}`` inside the 200 stream;
* responses stream: ``event:`` lines equal to the JSON ``type``, increasing ``sequence_number``,
  no ``[DONE]``; usage only in the terminal ``response.completed`` (or ``.incomplete``);
* embeddings honour ``encoding_format`` (the SDK asks for base64 little-endian float32);
* 401 ``invalid_api_key``; 429 with ``x-ratelimit-*`` and ``retry-after``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, endpoint, sse

CREATED = 1_700_000_000

_OPENAI_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def openai_error(status: int, message: str) -> dict[str, Any]:
    """OpenAI's error body: ``{"error": {"message", "type", "param", "code"}}``."""
    kind, code = _OPENAI_ERROR_KINDS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def chat_prompt(body: dict[str, Any]) -> tuple[str, int]:
    """Return (last user message text, prompt token count) of a chat-completions body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    prompt_tokens = sum(_text.count_tokens(_text.text_of(m.get("content"))) for m in messages)
    last_user = next(
        (_text.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
        "",
    )
    return last_user, prompt_tokens


class OpenAIChatFamily(Simulator):
    """The chat-completions wire; subclasses set the quirks of each compatible provider."""

    chat_prefixes: ClassVar[tuple[str, ...]] = ()
    """Extra path prefixes also serving ``/chat/completions`` (besides ``base_path``)."""
    sends_done: ClassVar[bool] = True
    honours_include_usage: ClassVar[bool] = True
    prelude_comments: ClassVar[tuple[str, ...]] = ()
    system_fingerprint: ClassVar[str | None] = "fp_sim"

    def routes(self) -> list[web.RouteDef]:
        """``POST {base}/chat/completions`` and ``GET {base}/models`` (also per prefix)."""
        routes = []
        for prefix in (self.base_path, *self.chat_prefixes):
            routes.append(web.post(prefix + "/chat/completions", self.chat_completions))
            routes.append(web.get(prefix + "/models", self.models))
        return routes

    @endpoint
    async def models(self, call: Call) -> web.StreamResponse:
        """``GET /models``: a one-model list (``sim-model``), for clients that probe it."""
        model = {"id": "sim-model", "object": "model", "created": CREATED, "owned_by": "aigw-sim"}
        return await self.send_json(call, {"object": "list", "data": [model]})

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Bearer key must equal ``key``; otherwise 401 in the provider's shape."""
        if self.bearer_key(request) == self.key:
            return None
        return self.error_response(401, self.invalid_key_message(request))

    def invalid_key_message(self, request: web.Request) -> str:
        """The provider's message for a missing or wrong key."""
        key = self.bearer_key(request)
        if key is None:
            return "You didn't provide an API key."
        return f"Incorrect API key provided: {key[:3]}***{key[-4:]}."

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """OpenAI-shaped error body."""
        return openai_error(status, message), {}

    def usage(self, prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
        """The ``usage`` object (subclasses add their extra fields)."""
        return {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }

    def completion_extras(self, call: Call, usage: dict[str, Any]) -> dict[str, Any]:
        """Extra top-level fields of a non-streaming completion."""
        return {}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """Add provider quirks to stream chunk number ``index`` (``final`` = finish chunk)."""
        return chunk

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Request id header on every response."""
        return {"x-request-id": f"req_{call.id if call else 'error'}"}

    # ---- chat completions --------------------------------------------------------------------

    @endpoint
    async def chat_completions(self, call: Call) -> web.StreamResponse:
        """Answer ``/chat/completions``, streaming when the body says ``"stream": true``."""
        last_user, prompt_tokens = chat_prompt(call.body)
        limit = call.body.get("max_completion_tokens") or call.body.get("max_tokens")
        reply, cut = _text.truncate_words(self.reply_text(last_user), _int_or_none(limit))
        finish = "length" if cut else "stop"
        usage = self.usage(prompt_tokens, _text.count_tokens(reply))
        if call.stream:
            return await self.send_stream(call, self.chat_frames(call, reply, finish, usage))
        completion = {
            "id": f"chatcmpl-{call.id}",
            "object": "chat.completion",
            "created": CREATED,
            "model": call.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": reply,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish,
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": self.system_fingerprint,
            **self.completion_extras(call, usage),
        }
        return await self.send_json(call, completion, prefix=self.json_prefix())

    def json_prefix(self) -> bytes:
        """Bytes sent before a non-streaming JSON body (DeepSeek's keep-alive blank lines)."""
        return b""

    def chat_frames(
        self, call: Call, reply: str, finish: str, usage: dict[str, Any]
    ) -> list[Frame]:
        """Every frame of a chat-completions stream, in order."""
        eol = self.sse_eol
        include_usage = self.honours_include_usage and bool(
            (call.body.get("stream_options") or {}).get("include_usage")
        )
        frames: list[Frame] = [
            (f": {text}{eol}{eol}".encode(), False) for text in self.prelude_comments
        ]
        deltas: list[tuple[dict[str, Any], str | None, bool]] = [
            ({"role": "assistant", "content": "", "refusal": None}, None, False)
        ]
        deltas += [({"content": piece}, None, True) for piece in self.pieces(reply)]
        deltas.append(({}, finish, False))
        text_so_far = ""
        for index, (delta, finish_reason, is_content) in enumerate(deltas):
            text_so_far += delta.get("content", "")
            chunk: dict[str, Any] = {
                "id": f"chatcmpl-{call.id}",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": call.model,
                "system_fingerprint": self.system_fingerprint,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if include_usage:
                chunk["usage"] = None
            call.extra["text_so_far"] = text_so_far
            chunk = self.decorate_chunk(
                call, chunk, index=index, final=finish_reason is not None, usage=usage
            )
            frames.append((sse(chunk, eol=eol), is_content))
        if include_usage:
            tail = {
                "id": f"chatcmpl-{call.id}",
                "object": "chat.completion.chunk",
                "created": CREATED,
                "model": call.model,
                "system_fingerprint": self.system_fingerprint,
                "choices": [],
                "usage": usage,
            }
            frames.append((sse(tail, eol=eol), False))
        if self.sends_done:
            frames.append((sse("[DONE]", eol=eol), False))
        return frames

    # ---- embeddings (OpenAI, Mistral) ----------------------------------------------------------

    @endpoint
    async def embeddings(self, call: Call) -> web.StreamResponse:
        """Answer ``/embeddings``: one deterministic vector per input, float or base64."""
        raw = call.body.get("input", "")
        inputs = raw if isinstance(raw, list) else [raw]
        texts = [
            item if isinstance(item, str) else " ".join(map(str, _flat(item))) for item in inputs
        ]
        dims = _int_or_none(call.body.get("dimensions")) or 8
        as_base64 = call.body.get("encoding_format") == "base64"
        data = []
        for index, text in enumerate(texts):
            vector = _text.embedding_vector(text, dims)
            encoded: Any = _text.embedding_base64(vector) if as_base64 else vector
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(_text.count_tokens(t) for t in texts)
        body = {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        return await self.send_json(call, body)


class OpenAISimulator(OpenAIChatFamily):
    """api.openai.com/v1: chat completions, responses, embeddings; ``x-ratelimit-*`` headers."""

    slug = "openai"
    default_key = "sk-sim-openai"
    base_path = "/v1"

    def routes(self) -> list[web.RouteDef]:
        """Chat completions, ``/v1/responses`` and ``/v1/embeddings``."""
        return [
            *super().routes(),
            web.post("/v1/responses", self.responses),
            web.post("/v1/embeddings", self.embeddings),
        ]

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Request id, processing time, version and the rate-limit state."""
        return {
            **super().response_headers(call),
            "openai-processing-ms": "1",
            "openai-version": "2020-10-01",
            "x-ratelimit-limit-requests": "10000",
            "x-ratelimit-limit-tokens": "30000000",
            "x-ratelimit-remaining-requests": "9999",
            "x-ratelimit-remaining-tokens": "29999990",
            "x-ratelimit-reset-requests": "6ms",
            "x-ratelimit-reset-tokens": "0s",
        }

    def rate_limit_headers(self) -> dict[str, str]:
        """On 429: remaining requests 0 and ``retry-after`` (seconds)."""
        return {
            **super().rate_limit_headers(),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s",
        }

    def stream_error_frame(self, call: Call) -> bytes:
        """Chat: ``data: {"error": …}``; responses: ``event: error``."""
        if call.extra.get("api") == "responses":
            event = {
                "type": "error",
                "code": "server_error",
                "message": "Simulated mid-stream error",
                "param": None,
                "sequence_number": call.extra.get("events", 0),
            }
            return sse(event, event="error")
        error = openai_error(500, "Simulated mid-stream error")
        return sse(error)

    def malformed_frame(self, call: Call) -> bytes:
        """Chat: truncated ``data:`` JSON; responses: a truncated text delta event."""
        if call.extra.get("api") == "responses":
            return (
                b"event: response.output_text.delta\n"
                b'data: {"type":"response.output_text.delta","delta":\n\n'
            )
        return super().malformed_frame(call)

    # ---- responses ---------------------------------------------------------------------------

    @endpoint
    async def responses(self, call: Call) -> web.StreamResponse:
        """Answer ``/v1/responses`` (``stream`` gives the typed event sequence, no [DONE])."""
        call.extra["api"] = "responses"
        last_user, prompt_tokens = responses_prompt(call.body)
        limit = _int_or_none(call.body.get("max_output_tokens"))
        reply, cut = _text.truncate_words(self.reply_text(last_user), limit)
        completion_tokens = _text.count_tokens(reply)
        usage = {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt_tokens + completion_tokens,
        }
        status = "incomplete" if cut else "completed"
        item_id = f"msg_{call.id}"
        part = {"type": "output_text", "text": reply, "annotations": [], "logprobs": []}
        item = {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [part],
        }
        final = self._response_object(call, status, [item], usage)
        if cut:
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        if not call.stream:
            return await self.send_json(call, final)
        events: list[tuple[dict[str, Any], bool]] = []
        started = self._response_object(call, "in_progress", [], None)
        events.append(({"type": "response.created", "response": started}, False))
        events.append(({"type": "response.in_progress", "response": started}, False))
        open_item = {**item, "status": "in_progress", "content": []}
        where = {"item_id": item_id, "output_index": 0, "content_index": 0}
        events.append(
            ({"type": "response.output_item.added", "output_index": 0, "item": open_item}, False)
        )
        empty_part = {**part, "text": ""}
        events.append(({"type": "response.content_part.added", **where, "part": empty_part}, False))
        for piece in self.pieces(reply):
            delta = {"type": "response.output_text.delta", **where, "delta": piece, "logprobs": []}
            events.append((delta, True))
        events.append(
            ({"type": "response.output_text.done", **where, "text": reply, "logprobs": []}, False)
        )
        events.append(({"type": "response.content_part.done", **where, "part": part}, False))
        events.append(
            ({"type": "response.output_item.done", "output_index": 0, "item": item}, False)
        )
        events.append(({"type": f"response.{status}", "response": final}, False))
        frames: list[Frame] = []
        for number, (event, is_content) in enumerate(events):
            event["sequence_number"] = number
            frames.append((sse(event, event=event["type"]), is_content))
        call.extra["events"] = len(events)
        return await self.send_stream(call, frames)

    def _response_object(
        self, call: Call, status: str, output: list[Any], usage: dict[str, Any] | None
    ) -> dict[str, Any]:
        return {
            "id": f"resp_{call.id}",
            "object": "response",
            "created_at": CREATED,
            "status": status,
            "model": call.model,
            "output": output,
            "usage": usage,
            "error": None,
            "incomplete_details": None,
            "instructions": call.body.get("instructions"),
            "max_output_tokens": call.body.get("max_output_tokens"),
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": None,
            "store": True,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "metadata": {},
        }


def responses_prompt(body: dict[str, Any]) -> tuple[str, int]:
    """Return (last user text, prompt token count) of a Responses API body."""
    raw = body.get("input")
    items = [{"role": "user", "content": raw}] if isinstance(raw, str) else raw or []
    items = [item for item in items if isinstance(item, dict)]
    texts = [_text.text_of(item.get("content")) for item in items]
    instructions = body.get("instructions")
    prompt_tokens = sum(map(_text.count_tokens, texts))
    if isinstance(instructions, str):
        prompt_tokens += _text.count_tokens(instructions)
    last_user = next(
        (_text.text_of(i.get("content")) for i in reversed(items) if i.get("role") == "user"), ""
    )
    return last_user, prompt_tokens


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _flat(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
