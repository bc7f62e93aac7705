"""Cloudflare Workers AI's native `run/{model}` API as a /compat provider format (providers.md §6).

Bodies are OpenAI-like messages without image parts; answers come in Cloudflare's v4 envelope
(`result.response`, `result.tool_calls`, `result.usage`), streams are data-only SSE of
`{"response": "…"}` frames, a last `{"response": "", "usage": …}` frame and `[DONE]`. Newer
models answer in OpenAI's shapes on the same route; both are read.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from aigw.compat import openai_format
from aigw.compat.ir import (
    ChatRequest,
    ChatResponse,
    ProviderError,
    StreamEncoder,
    ToolCall,
    UnsupportedParameter,
)

_PASSED_EXTRA = frozenset({"seed", "presence_penalty", "frequency_penalty", "top_k", "repetition_penalty"})


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """A `run/{model}` text-generation body for `req`."""
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    for i, m in enumerate(req.messages):
        if any(p.kind == "image" for p in m.parts):
            raise UnsupportedParameter(f"messages[{i}].content image_url", provider, "Workers AI chat models take text only")
        entry: dict[str, Any] = {"role": m.role, "content": m.text()}
        if m.role == "tool":
            entry["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            entry["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls
            ]
        messages.append(entry)
    body: dict[str, Any] = {"messages": messages}
    if req.max_tokens is not None:
        body["max_tokens"] = req.max_tokens
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        raise UnsupportedParameter("stop", provider, "Workers AI text generation has no stop sequences")
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": {"name": t.name, "description": t.description or "", "parameters": t.parameters or {"type": "object", "properties": {}}}}
            for t in req.tools
        ]
    if req.tool_choice not in (None, "auto"):
        raise UnsupportedParameter("tool_choice", provider, "Workers AI decides itself whether to call a tool (only 'auto')")
    if req.response_format is not None:
        rf = req.response_format
        body["response_format"] = {"type": "json_object"} if rf["type"] == "json_object" else {"type": "json_schema", "json_schema": rf["schema"]}
    if req.stream:
        body["stream"] = True
    for key, value in req.extra.items():
        if key not in _PASSED_EXTRA:
            raise UnsupportedParameter(key, provider)
        body[key] = value
    return body


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls = []
    for c in raw or ():
        if not isinstance(c, dict):
            continue
        fn = c.get("function") if isinstance(c.get("function"), dict) else c
        args = fn.get("arguments")
        calls.append(ToolCall(c.get("id") or _call_id(), str(fn.get("name")), args if isinstance(args, str) else orjson.dumps(args or {}).decode()))
    return calls


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a `run` answer (v4 envelope, or an OpenAI chat.completion inside it)."""
    result = doc.get("result") if isinstance(doc, dict) and "result" in doc else doc
    if not isinstance(result, dict):
        raise ValueError("not a Workers AI answer")
    if "choices" in result:
        return openai_format.parse_response(result, model)
    text = result.get("response")
    if text is not None and not isinstance(text, str):
        text = orjson.dumps(text).decode()  # JSON mode answers an object
    calls = _tool_calls(result.get("tool_calls"))
    return ChatResponse(
        id=openai_format.new_id(),
        model=model,
        text=text if text or not calls else None,
        tool_calls=calls,
        finish_reason="tool_calls" if calls else "stop",
        usage=openai_format.usage_from(result.get("usage")),
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """A v4 error envelope `{"errors": [{code, message}]}` (or an OpenAI-shaped one)."""
    errors = doc.get("errors") if isinstance(doc, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        return ProviderError(status, str(errors[0].get("message") or "provider error"), None, errors[0].get("code"))
    return openai_format.parse_error(status, doc)


class StreamDecoder:
    """`run` stream frames (native `{"response"}` or OpenAI chunks) → encoder calls."""

    __slots__ = ("enc", "started", "done", "_openai", "_tools")

    terminal_payload = b"[DONE]"

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.started = False
        self.done = False
        self._openai: openai_format.StreamDecoder | None = None
        self._tools = 0

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate the data payloads of some SSE events; returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        for data in events:
            if data == b"[DONE]":
                self.done = True
                if self._openai is not None:
                    out += self._openai.feed([data])
                    continue
                if not self.started:
                    self.started = True
                    enc.start(out, None, None)
                enc.finish(out, "tool_calls" if self._tools else "stop")
                enc.end(out)
                continue
            doc = orjson.loads(data)
            if not isinstance(doc, dict):
                continue
            if "choices" in doc:  # a newer model speaking OpenAI's chunks
                if self._openai is None:
                    self._openai = openai_format.StreamDecoder(enc)
                    self._openai.started = self.started
                    self.started = True
                out += self._openai.feed([data])
                continue
            if doc.get("success") is False or "errors" in doc:
                self.done = True
                enc.error(out, parse_error(500, doc))
                continue
            if not self.started:
                self.started = True
                enc.start(out, None, None)
            text = doc.get("response")
            if text:
                enc.text(out, text if isinstance(text, str) else orjson.dumps(text).decode())
            for call in _tool_calls(doc.get("tool_calls")):
                enc.tool_start(out, self._tools, call.id, call.name)
                enc.tool_args(out, self._tools, call.arguments)
                self._tools += 1
            usage = openai_format.usage_from(doc.get("usage"))
            if usage is not None:
                enc.usage(usage)
        return out
