"""Google AI Studio (Gemini `generateContent` / `streamGenerateContent?alt=sse`) as a /compat
provider format (providers.md §4).

Gemini has no tool-call ids (newer models may send one): a response's function calls get fresh
`call_…` ids, and a tool result finds its function's name from the assistant turn that asked
for it (the client sends the history back).
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from aigw.compat.ir import (
    ChatRequest,
    ChatResponse,
    InvalidCompatRequest,
    ProviderError,
    StreamEncoder,
    TokenUsage,
    ToolCall,
    UnsupportedParameter,
    int_field,
)

_FINISH = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
#: IR `extra` parameters → generationConfig fields.
_EXTRA = {"seed": "seed", "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty", "top_k": "topK"}


def endpoint(model: str, stream: bool) -> tuple[str, str]:
    """(endpoint, query) of `model`'s generate call."""
    if stream:
        return f"v1beta/models/{model}:streamGenerateContent", "alt=sse"
    return f"v1beta/models/{model}:generateContent", ""


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """A GenerateContentRequest for `req`. Images must be inline (data: URLs): the Gemini API
    does not fetch arbitrary http(s) URLs."""
    names: dict[str, str] = {}  # tool call id → function name, from the history
    contents: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        if m.role == "tool":
            name = names.get(m.tool_call_id or "")
            if name is None:
                raise InvalidCompatRequest(f"messages[{i}]: tool_call_id {m.tool_call_id!r} answers no earlier tool call", f"messages[{i}].tool_call_id")
            part = {"functionResponse": {"name": name, "response": _response_object(m.text())}}
            _append(contents, "user", [part])
            continue
        parts: list[dict[str, Any]] = []
        for p in m.parts:
            if p.kind == "text":
                if p.text:
                    parts.append({"text": p.text})
            elif p.url:
                raise UnsupportedParameter(f"messages[{i}].content image_url (http URL)", provider, "send the image as a data: URL")
            else:
                parts.append({"inlineData": {"mimeType": p.media_type, "data": p.data}})
        for call in m.tool_calls:
            names[call.id] = call.name
            try:
                args = orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                raise InvalidCompatRequest(f"tool call {call.id}: arguments are not JSON", "messages") from None
            parts.append({"functionCall": {"name": call.name, "args": args}})
        _append(contents, "model" if m.role == "assistant" else "user", parts or [{"text": ""}])
    body: dict[str, Any] = {"contents": contents}
    if req.system:
        body["systemInstruction"] = {"parts": [{"text": req.system}]}
    config: dict[str, Any] = {}
    if req.max_tokens is not None:
        config["maxOutputTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.stop:
        config["stopSequences"] = req.stop
    if req.response_format is not None:
        config["responseMimeType"] = "application/json"
        if req.response_format["type"] == "json_schema":
            config["responseJsonSchema"] = req.response_format["schema"]
    for key, value in req.extra.items():
        field = _EXTRA.get(key)
        if field is None:
            raise UnsupportedParameter(key, provider)
        config[field] = value
    if config:
        body["generationConfig"] = config
    if req.tools:
        body["tools"] = [
            {
                "functionDeclarations": [
                    {"name": t.name, **({"description": t.description} if t.description else {}), **({"parametersJsonSchema": t.parameters} if t.parameters else {})}
                    for t in req.tools
                ]
            }
        ]
    if req.tool_choice is not None:
        if req.tool_choice in ("auto", "none", "required"):
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[req.tool_choice]
            body["toolConfig"] = {"functionCallingConfig": {"mode": mode}}
        else:
            body["toolConfig"] = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [req.tool_choice]}}
    if req.parallel_tool_calls is False:
        raise UnsupportedParameter("parallel_tool_calls", provider, "Gemini cannot be limited to one call per turn")
    return body


def _response_object(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role share one content (parallel function responses must)."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def usage_from(meta: Any) -> TokenUsage | None:
    """IR usage from `usageMetadata` (thoughts count as output)."""
    if not isinstance(meta, dict):
        return None
    out = int_field(meta.get("candidatesTokenCount"))
    thoughts = int_field(meta.get("thoughtsTokenCount"))
    if thoughts is not None:
        out = (out or 0) + thoughts
    return TokenUsage(int_field(meta.get("promptTokenCount")), out, int_field(meta.get("cachedContentTokenCount")), thoughts)


def _call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a GenerateContentResponse (a blocked prompt: empty, content_filter)."""
    if not isinstance(doc, dict):
        raise ValueError("not a GenerateContentResponse")
    texts, calls = [], []
    candidates = doc.get("candidates") or []
    reason = "content_filter" if not candidates else "stop"
    if candidates:
        cand = candidates[0]
        for part in (cand.get("content") or {}).get("parts") or ():
            if "text" in part and not part.get("thought"):
                texts.append(part["text"])
            elif "functionCall" in part:
                fc = part["functionCall"]
                calls.append(ToolCall(fc.get("id") or _call_id(), str(fc.get("name")), orjson.dumps(fc.get("args") or {}).decode()))
        reason = _FINISH.get(cand.get("finishReason") or "STOP", "stop")
        if calls and reason == "stop":
            reason = "tool_calls"
    return ChatResponse(
        id=str(doc.get("responseId") or "chatcmpl-" + uuid.uuid4().hex[:24]),
        model=str(doc.get("modelVersion") or model),
        text="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=reason,
        usage=usage_from(doc.get("usageMetadata")),
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """Google's RPC error body. An invalid API key (400 API_KEY_INVALID) is reported as 401,
    so OpenAI clients see an authentication error."""
    err = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(err, dict):
        return ProviderError(status, "provider error")
    reasons = [d.get("reason") for d in err.get("details") or () if isinstance(d, dict)]
    if "API_KEY_INVALID" in reasons:
        status = 401
    return ProviderError(status, str(err.get("message") or "provider error"), err.get("status"), err.get("status"))


class StreamDecoder:
    """`streamGenerateContent?alt=sse` chunks → encoder calls. Each chunk is a whole response
    with the new parts; usage repeats on every chunk (the last wins). The stream has no
    terminator: the end is the body's end (`close`)."""

    __slots__ = ("enc", "started", "done", "_tools", "_reason")

    terminal_payload = None

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.started = False
        self.done = False
        self._tools = 0
        self._reason: str | None = None

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate the data payloads of some SSE events; returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        for data in events:
            doc = orjson.loads(data)
            if not isinstance(doc, dict):
                continue
            if "error" in doc:
                self.done = True
                enc.error(out, parse_error(int_field(doc["error"].get("code")) or 500, doc))
                continue
            if not self.started:
                self.started = True
                enc.start(out, None, doc.get("modelVersion"))
            usage = usage_from(doc.get("usageMetadata"))
            if usage is not None:
                enc.usage(usage)
            candidates = doc.get("candidates")
            if not candidates:
                if (doc.get("promptFeedback") or {}).get("blockReason"):
                    self._reason = "content_filter"
                continue
            cand = candidates[0]
            for part in (cand.get("content") or {}).get("parts") or ():
                text = part.get("text")
                if text and not part.get("thought"):
                    enc.text(out, text)
                elif "functionCall" in part:
                    fc = part["functionCall"]
                    enc.tool_start(out, self._tools, fc.get("id") or _call_id(), str(fc.get("name")))
                    enc.tool_args(out, self._tools, orjson.dumps(fc.get("args") or {}).decode())
                    self._tools += 1
            finish = cand.get("finishReason")
            if finish:
                reason = _FINISH.get(finish, "stop")
                self._reason = "tool_calls" if reason == "stop" and self._tools else reason
        return out

    def close(self) -> list[bytes]:
        """The body ended: the finish chunk and the front door's end."""
        out: list[bytes] = []
        if not self.done:
            self.done = True
            if not self.started:
                self.enc.start(out, None, None)
            self.enc.finish(out, self._reason or "stop")
            self.enc.end(out)
        return out
