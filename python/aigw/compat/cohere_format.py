"""Cohere's v2 chat (`POST /v2/chat`) as a /compat provider format (providers.md §7).

Requests: OpenAI-like `messages` (system first, assistant `tool_calls`, `tool` results), with
Cohere's names for sampling (`p`, `k`, `stop_sequences`), `tool_choice` `REQUIRED`/`NONE`, and
JSON mode as `response_format: {"type": "json_object", "json_schema"}`. Answers:
`message.content[]` text parts and `message.tool_calls`, `finish_reason` in capitals, usage in
`usage.billed_units` (what Cohere bills, and what the gateway logs). Streams: SSE events whose
data carry `type`: `message-start`, `content-delta`, `tool-call-start` / `-delta` / `-end`,
`message-end` (finish reason and usage); a trailing `data: [DONE]` may follow and is skipped.
"""

from __future__ import annotations

from typing import Any

import orjson

from aigw.compat.ir import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    StreamEncoder,
    TokenUsage,
    ToolCall,
    UnsupportedParameter,
    int_field,
)

_FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
#: IR `extra` parameters → Cohere's fields.
_EXTRA = {"seed": "seed", "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty", "top_k": "k"}


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """A v2 chat body for `req`. Refused by name: `tool_choice` naming one function, and
    `parallel_tool_calls: false` (Cohere has neither)."""
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    for m in req.messages:
        if m.role == "tool":
            messages.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text()})
            continue
        entry: dict[str, Any] = {"role": m.role}
        if any(p.kind == "image" for p in m.parts):
            entry["content"] = [_part(p) for p in m.parts if p.kind == "image" or p.text]
        elif m.text() or not m.tool_calls:
            entry["content"] = m.text()
        if m.tool_calls:
            entry["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls]
        messages.append(entry)
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, **({"description": t.description} if t.description else {}), "parameters": t.parameters or {"type": "object", "properties": {}}}}
            for t in req.tools
        ]
    if req.tool_choice == "required":
        body["tool_choice"] = "REQUIRED"
    elif req.tool_choice == "none":
        body["tool_choice"] = "NONE"
    elif req.tool_choice not in (None, "auto"):
        raise UnsupportedParameter("tool_choice", provider, "Cohere cannot be made to call one named function (use 'required')")
    if req.parallel_tool_calls is False:
        raise UnsupportedParameter("parallel_tool_calls", provider, "Cohere cannot be limited to one tool call per turn")
    if req.response_format is not None:
        rf: dict[str, Any] = {"type": "json_object"}
        if req.response_format["type"] == "json_schema":
            rf["json_schema"] = req.response_format["schema"]
        body["response_format"] = rf
    if req.stream:
        body["stream"] = True
    for key, value in req.extra.items():
        field = _EXTRA.get(key)
        if field is None:
            raise UnsupportedParameter(key, provider)
        body[field] = value
    return body


def _part(p: Any) -> dict[str, Any]:
    if p.kind == "text":
        return {"type": "text", "text": p.text}
    url = p.url or f"data:{p.media_type};base64,{p.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def usage_from(doc: Any) -> TokenUsage | None:
    """IR usage from a v2 `usage`: `billed_units` (raw `tokens` when absent), `cached_tokens`."""
    if not isinstance(doc, dict):
        return None
    for part in ("billed_units", "tokens"):
        counts = doc.get(part)
        if isinstance(counts, dict):
            tokens_in, tokens_out = int_field(counts.get("input_tokens")), int_field(counts.get("output_tokens"))
            if tokens_in is not None or tokens_out is not None:
                cached = int_field(doc.get("cached_tokens"))
                return TokenUsage(tokens_in, tokens_out, cached or None)
    return None


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(c.get("text") or "" for c in content or () if isinstance(c, dict) and c.get("type") == "text")


def _calls(raw: Any) -> list[ToolCall]:
    calls = []
    for c in raw or ():
        fn = c.get("function") or {}
        args = fn.get("arguments")
        calls.append(ToolCall(str(c.get("id")), str(fn.get("name")), args if isinstance(args, str) else orjson.dumps(args or {}).decode()))
    return calls


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a v2 chat answer."""
    if not isinstance(doc, dict) or not isinstance(doc.get("message"), dict):
        raise ValueError("not a Cohere chat answer")
    message = doc["message"]
    calls = _calls(message.get("tool_calls"))
    text = _text_of(message.get("content"))
    reason = _FINISH.get(doc.get("finish_reason") or "COMPLETE", "stop")
    return ChatResponse(
        id=str(doc.get("id") or "chatcmpl-cohere"),
        model=model,
        text=text if text or not calls else None,
        tool_calls=calls,
        finish_reason="tool_calls" if calls and reason == "stop" else reason,
        usage=usage_from(doc.get("usage")),
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """Cohere's `{"id", "message"}`. Its 498 (invalid token) is 401 for OpenAI clients."""
    message = doc.get("message") if isinstance(doc, dict) else None
    return ProviderError(401 if status == 498 else status, str(message or "provider error"))


class StreamDecoder:
    """v2 chat stream events → encoder calls; `message-end` ends the answer."""

    __slots__ = ("enc", "started", "done", "_tool_of_index", "_tools")

    terminal_payload = None

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.started = False
        self.done = False
        self._tool_of_index: dict[Any, int] = {}
        self._tools = 0

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate the data payloads of some SSE events; returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        for data in events:
            if data == b"[DONE]":
                continue
            doc = orjson.loads(data)
            if not isinstance(doc, dict):
                continue
            kind = doc.get("type")
            message = (doc.get("delta") or {}).get("message") or {}
            if kind == "content-delta":
                text = (message.get("content") or {}).get("text")
                if text:
                    enc.text(out, text)
            elif kind == "message-start":
                self.started = True
                enc.start(out, doc.get("id"), None)
            elif kind == "tool-call-start":
                call = _one_call(message.get("tool_calls"))
                self._tool_of_index[doc.get("index")] = self._tools
                fn = call.get("function") or {}
                enc.tool_start(out, self._tools, str(call.get("id")), str(fn.get("name")))
                if fn.get("arguments"):
                    enc.tool_args(out, self._tools, fn["arguments"])
                self._tools += 1
            elif kind == "tool-call-delta":
                index = self._tool_of_index.get(doc.get("index"))
                fragment = (_one_call(message.get("tool_calls")).get("function") or {}).get("arguments")
                if index is not None and fragment:
                    enc.tool_args(out, index, fragment)
            elif kind == "message-end":
                self.done = True
                delta = doc.get("delta") or {}
                reason = delta.get("finish_reason")
                if reason in ("ERROR", "TIMEOUT"):
                    status = 504 if reason == "TIMEOUT" else 500
                    enc.error(out, ProviderError(status, str(delta.get("error") or f"Cohere ended the answer with {reason}"), reason, reason))
                    continue
                usage = usage_from(delta.get("usage"))
                if usage is not None:
                    enc.usage(usage)
                mapped = _FINISH.get(reason or "COMPLETE", "stop")
                enc.finish(out, "tool_calls" if self._tools and mapped == "stop" else mapped)
                enc.end(out)
        return out


def _one_call(raw: Any) -> dict[str, Any]:
    """A stream event's tool call: an object (the documented shape) or a one-item list."""
    if isinstance(raw, list):
        raw = raw[0] if raw else {}
    return raw if isinstance(raw, dict) else {}
