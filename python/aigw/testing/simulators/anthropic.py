"""Anthropic Messages API as api.anthropic.com serves it (providers.md §3).

* ``POST /v1/messages`` (stream or not) and ``POST /v1/messages/count_tokens``;
* auth: ``x-api-key: <key>`` or ``Authorization: Bearer <key>`` (newest SDK), any
  ``anthropic-version`` (a missing one is a 400, as the API does);
* stream: named events ``message_start`` (usage with ``input_tokens`` and a provisional
  ``output_tokens: 1``) → ``content_block_start`` → ``ping`` → ``content_block_delta``* →
  ``content_block_stop`` → ``message_delta`` (cumulative final usage) → ``message_stop``;
* errors ``{"type": "error", "error": {"type", "message"}, "request_id"}``; 529
  ``overloaded_error``; ``retry-after`` and ``anthropic-ratelimit-*`` headers on 429/529;
* mid-stream error: ``event: error`` with the same error object.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, endpoint, sse

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_RESET = "2023-11-14T22:13:20Z"


def messages_prompt(body: dict[str, Any]) -> tuple[str, int]:
    """Return (last user text, prompt token count incl. ``system``) of a Messages body."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, dict)]
    tokens = sum(_text.count_tokens(_text.text_of(m.get("content"))) for m in messages)
    tokens += _text.count_tokens(_text.text_of(body.get("system")))
    last_user = next(
        (_text.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"),
        "",
    )
    return last_user, tokens


class AnthropicSimulator(Simulator):
    """api.anthropic.com: the Messages API with named SSE events and 529 overloads."""

    slug = "anthropic"
    default_key = "sk-ant-sim"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """``/v1/messages`` and ``/v1/messages/count_tokens``."""
        return [
            web.post("/v1/messages", self.messages),
            web.post("/v1/messages/count_tokens", self.count_tokens),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``x-api-key`` or Bearer must equal ``key``; ``anthropic-version`` must be present."""
        key = request.headers.get("x-api-key") or self.bearer_key(request)
        if key is None:
            return self.error_response(401, "x-api-key header is required")
        if key != self.key:
            return self.error_response(401, "invalid x-api-key")
        if "anthropic-version" not in request.headers:
            return self.error_response(400, "anthropic-version: header is required")
        return None

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"type": "error", "error": {...}, "request_id"}``; ``retry-after`` on 529 too."""
        kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
        body = {
            "type": "error",
            "error": {"type": kind, "message": message},
            "request_id": "req_sim_error",
        }
        headers = {"x-should-retry": "true"} if status in (429, 529) or status >= 500 else {}
        if status == 529:
            headers["retry-after"] = str(int(self.retry_after))
        return body, headers

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """``request-id`` and the ``anthropic-ratelimit-*`` state."""
        headers = {"request-id": f"req_{call.id if call else 'error'}"}
        for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
            headers[f"anthropic-ratelimit-{kind}-limit"] = "4000"
            headers[f"anthropic-ratelimit-{kind}-remaining"] = "3999"
            headers[f"anthropic-ratelimit-{kind}-reset"] = _RESET
        return headers

    def rate_limit_headers(self) -> dict[str, str]:
        """On 429: requests remaining 0 and ``retry-after``."""
        return {**super().rate_limit_headers(), "anthropic-ratelimit-requests-remaining": "0"}

    def stream_error_frame(self, call: Call) -> bytes:
        """``event: error`` with an ``overloaded_error``."""
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return sse(error, event="error")

    def malformed_frame(self, call: Call) -> bytes:
        """A ``content_block_delta`` event whose JSON is cut short."""
        return (
            b"event: content_block_delta\n"
            b'data: {"type":"content_block_delta","index":0,"delta":\n\n'
        )

    @endpoint
    async def count_tokens(self, call: Call) -> web.StreamResponse:
        """``{"input_tokens": N}`` with N = words of the messages and system prompt."""
        return await self.send_json(call, {"input_tokens": messages_prompt(call.body)[1]})

    @endpoint
    async def messages(self, call: Call) -> web.StreamResponse:
        """Answer ``/v1/messages``; honours ``max_tokens`` (stop reason ``max_tokens``)."""
        last_user, input_tokens = messages_prompt(call.body)
        limit = call.body.get("max_tokens")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) else None
        reply, cut = _text.truncate_words(self.reply_text(last_user), limit)
        stop_reason = "max_tokens" if cut else "end_turn"
        output_tokens = _text.count_tokens(reply)
        usage = {
            "input_tokens": input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }
        message = {
            "id": f"msg_{call.id}",
            "type": "message",
            "role": "assistant",
            "model": call.model,
            "content": [{"type": "text", "text": reply}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": usage,
        }
        if not call.stream:
            return await self.send_json(call, message)
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {**usage, "output_tokens": 1},
        }
        frames: list[Frame] = [
            (sse({"type": "message_start", "message": start}, event="message_start"), False),
            (
                sse(
                    {
                        "type": "content_block_start",
                        "index": 0,
                        "content_block": {"type": "text", "text": ""},
                    },
                    event="content_block_start",
                ),
                False,
            ),
            (sse({"type": "ping"}, event="ping"), False),
        ]
        for piece in self.pieces(reply):
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
            frames.append((sse(delta, event="content_block_delta"), True))
        frames.append(
            (sse({"type": "content_block_stop", "index": 0}, event="content_block_stop"), False)
        )
        final_delta = {
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": None},
            "usage": {k: v for k, v in usage.items() if k != "service_tier"},
        }
        frames.append((sse(final_delta, event="message_delta"), False))
        frames.append((sse({"type": "message_stop"}, event="message_stop"), False))
        return await self.send_stream(call, frames)
