"""Anthropic Messages: the second front door's schema, and a provider format (providers.md §3).

Front door: `parse_request` (Messages body → IR), `render_response` (IR → `message`),
`EventEncoder` (stream → message_start, content_block_start/delta/stop, message_delta with
usage, message_stop), `error_body`. Provider side: `build_request`, `parse_response`,
`StreamDecoder`, `parse_error`.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from aigw.compat.ir import (
    ChatRequest,
    ChatResponse,
    InvalidCompatRequest,
    Message,
    Part,
    ProviderError,
    StreamEncoder,
    TokenUsage,
    Tool,
    ToolCall,
    UnsupportedParameter,
    int_field,
    merge_usage,
)

#: max_tokens sent when an OpenAI-shaped request names none (Anthropic requires one).
DEFAULT_MAX_TOKENS = 4096
#: Messages parameters with no effect on the answer's content elsewhere (docs/compat.md).
HARMLESS = frozenset({"metadata", "service_tier", "container", "mcp_servers"})
_HANDLED = frozenset(
    {"model", "max_tokens", "system", "messages", "temperature", "top_p", "stop_sequences", "tools", "tool_choice", "stream"}
)

_STOP_OUT = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
_STOP_IN = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


# ---- front door: request ----------------------------------------------------------------------


def parse_request(doc: Any, model: str, provider: str) -> ChatRequest:
    """The IR of a Messages body whose model (prefix removed) is `model`."""
    if not isinstance(doc, dict):
        raise InvalidCompatRequest("the request body must be a JSON object")
    max_tokens = doc.get("max_tokens")
    if int_field(max_tokens) is None or max_tokens < 1:
        raise InvalidCompatRequest("max_tokens: a positive integer is required", "max_tokens")
    raw = doc.get("messages")
    if not isinstance(raw, list) or not raw:
        raise InvalidCompatRequest("messages: a non-empty array is required", "messages")
    messages: list[Message] = []
    for i, m in enumerate(raw):
        role = m.get("role") if isinstance(m, dict) else None
        if role not in ("user", "assistant"):
            raise InvalidCompatRequest(f"messages.{i}.role: must be user or assistant", f"messages.{i}.role")
        messages.extend(_message(role, m.get("content"), f"messages.{i}.content", provider))
    req = ChatRequest(model=model, messages=messages, system=_system(doc.get("system"), provider), max_tokens=max_tokens)
    for key in ("temperature", "top_p"):
        value = doc.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidCompatRequest(f"{key}: must be a number", key)
        setattr(req, key, value)
    stops = doc.get("stop_sequences")
    if stops is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidCompatRequest("stop_sequences: must be an array of strings", "stop_sequences")
        req.stop = stops or None
    req.tools = _tools(doc.get("tools"), provider)
    choice = doc.get("tool_choice")
    if choice is not None:
        kind = choice.get("type") if isinstance(choice, dict) else None
        if kind not in ("auto", "any", "none", "tool"):
            raise InvalidCompatRequest("tool_choice.type: must be auto, any, none or tool", "tool_choice")
        req.tool_choice = {"auto": "auto", "any": "required", "none": "none"}.get(kind) or str(choice.get("name"))
        if choice.get("disable_parallel_tool_use") is True:
            req.parallel_tool_calls = False
    req.stream = doc.get("stream") is True
    req.include_usage = True
    for key, value in doc.items():
        if key not in _HANDLED and key not in HARMLESS and value is not None:
            req.extra[key] = value  # top_k, thinking ...: the provider format decides
    return req


def _system(raw: Any, provider: str) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw or None
    if isinstance(raw, list):
        texts = []
        for j, block in enumerate(raw):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise UnsupportedParameter(f"system.{j}.type", provider, "only text blocks")
            texts.append(str(block.get("text", "")))
        return "\n\n".join(texts) or None
    raise InvalidCompatRequest("system: must be a string or an array of text blocks", "system")


def _message(role: str, content: Any, where: str, provider: str) -> list[Message]:
    if isinstance(content, str):
        return [Message(role, [Part("text", content)])]
    if not isinstance(content, list):
        raise InvalidCompatRequest(f"{where}: must be a string or an array of blocks", where)
    out: list[Message] = []
    current = Message(role)
    for j, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            current.parts.append(Part("text", str(block.get("text", ""))))
        elif kind == "image":
            current.parts.append(_image(block.get("source"), f"{where}.{j}", provider))
        elif kind == "tool_use" and role == "assistant":
            current.tool_calls.append(ToolCall(str(block.get("id")), str(block.get("name")), orjson.dumps(block.get("input") or {}).decode()))
        elif kind == "tool_result" and role == "user":
            text = _tool_result_text(block.get("content"), f"{where}.{j}.content", provider)
            out.append(Message("tool", [Part("text", text)], tool_call_id=str(block.get("tool_use_id")), is_error=block.get("is_error") is True))
        elif kind in ("thinking", "redacted_thinking") and role == "assistant":
            continue  # earlier reasoning: meaningless to another provider, harmless to leave out
        else:
            raise UnsupportedParameter(f"{where}.{j}.type={kind}", provider)
    if current.parts or current.tool_calls or not out:
        out.append(current)
    return out


def _image(source: Any, where: str, provider: str) -> Part:
    kind = source.get("type") if isinstance(source, dict) else None
    if kind == "base64":
        return Part("image", media_type=str(source.get("media_type", "")), data=str(source.get("data", "")))
    if kind == "url":
        return Part("image", url=str(source.get("url", "")))
    raise UnsupportedParameter(f"{where}.source.type={kind}", provider)


def _tool_result_text(content: Any, where: str, provider: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise UnsupportedParameter(f"{where}.{j}.type", provider, "tool results carry text only here")
            texts.append(str(block.get("text", "")))
        return "".join(texts)
    raise InvalidCompatRequest(f"{where}: must be a string or text blocks", where)


def _tools(raw: Any, provider: str) -> list[Tool] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidCompatRequest("tools: must be an array", "tools")
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or t.get("type") not in (None, "custom") or not isinstance(t.get("name"), str):
            raise UnsupportedParameter(f"tools.{i}", provider, "only custom tools with a name and input_schema")
        tools.append(Tool(t["name"], t.get("description"), t.get("input_schema")))
    return tools or None


# ---- front door: answers ----------------------------------------------------------------------


def _usage_object(usage: TokenUsage | None) -> dict[str, Any]:
    usage = usage or TokenUsage()
    cached = usage.cached_input or 0
    return {
        "input_tokens": max(0, (usage.input or 0) - cached),
        "output_tokens": usage.output or 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def new_id() -> str:
    """A fresh `msg_…` id."""
    return "msg_" + uuid.uuid4().hex[:24]


def render_response(resp: ChatResponse) -> bytes:
    """The Messages `message` body of `resp`."""
    content: list[dict[str, Any]] = []
    if resp.text:
        content.append({"type": "text", "text": resp.text})
    for call in resp.tool_calls:
        content.append({"type": "tool_use", "id": call.id, "name": call.name, "input": _loads_object(call.arguments)})
    return orjson.dumps(
        {
            "id": resp.id if resp.id.startswith("msg_") else new_id(),
            "type": "message",
            "role": "assistant",
            "model": resp.model,
            "content": content,
            "stop_reason": _STOP_OUT.get(resp.finish_reason, "end_turn"),
            "stop_sequence": None,
            "usage": _usage_object(resp.usage),
        }
    )


def _loads_object(text: str) -> Any:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"value": value}


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type word for an HTTP status."""
    return _ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(error: ProviderError) -> bytes:
    """Anthropic's error shape `{"type": "error", "error": {type, message}}`."""
    return orjson.dumps({"type": "error", "error": {"type": error_type(error.status), "message": error.message}})


def _event(name: bytes, doc: dict) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(doc) + b"\n\n"


class EventEncoder:
    """Writes Messages stream events from any provider's stream."""

    __slots__ = ("model", "id", "_block", "_block_kind", "_tool_blocks", "_usage", "_reason", "ended", "_text_prefix")

    def __init__(self, model: str, id: str | None = None) -> None:
        self.model = model
        self.id = id
        self._block = -1  # index of the open content block, -1 when none is open
        self._block_kind = ""
        self._tool_blocks: dict[int, int] = {}  # IR tool index → content block index
        self._usage: TokenUsage | None = None
        self._reason = "stop"
        self.ended = False
        self._text_prefix = b""

    def start(self, out: list[bytes], id: str | None, model: str | None) -> None:
        """`message_start` with an empty message (usage so far)."""
        message = {
            "id": id if id and id.startswith("msg_") else (self.id or new_id()),
            "type": "message",
            "role": "assistant",
            "model": model or self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": _usage_object(self._usage),
        }
        out.append(_event(b"message_start", {"type": "message_start", "message": message}))

    def _open(self, out: list[bytes], kind: str, block: dict) -> None:
        self._close(out)
        self._block += 1
        self._block_kind = kind
        out.append(_event(b"content_block_start", {"type": "content_block_start", "index": self._block, "content_block": block}))
        if kind == "text":
            self._text_prefix = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
                + str(self._block).encode() + b',"delta":{"type":"text_delta","text":'
            )  # fmt: skip

    def _close(self, out: list[bytes]) -> None:
        if self._block_kind:
            out.append(_event(b"content_block_stop", {"type": "content_block_stop", "index": self._block}))
            self._block_kind = ""

    def text(self, out: list[bytes], text: str) -> None:
        """A `text_delta` (opening a text block first when needed)."""
        if self._block_kind != "text":
            self._open(out, "text", {"type": "text", "text": ""})
        out.append(self._text_prefix + orjson.dumps(text) + b"}}\n\n")

    def tool_start(self, out: list[bytes], index: int, id: str, name: str) -> None:
        """A `tool_use` content block."""
        self._open(out, "tool", {"type": "tool_use", "id": id, "name": name, "input": {}})
        self._tool_blocks[index] = self._block

    def tool_args(self, out: list[bytes], index: int, fragment: str) -> None:
        """An `input_json_delta` of the tool's block."""
        block = self._tool_blocks.get(index, self._block)
        delta = {"type": "content_block_delta", "index": block, "delta": {"type": "input_json_delta", "partial_json": fragment}}
        out.append(_event(b"content_block_delta", delta))

    def finish(self, out: list[bytes], reason: str) -> None:
        """Remember the stop reason for `message_delta`."""
        self._reason = reason

    def usage(self, usage: TokenUsage) -> None:
        """Remember usage for `message_delta`."""
        self._usage = merge_usage(self._usage, usage)

    def end(self, out: list[bytes]) -> None:
        """Close the open block, then `message_delta` (stop reason, final usage) and `message_stop`."""
        if self.ended:
            return
        self.ended = True
        self._close(out)
        reason = "tool_calls" if self._reason == "stop" and self._tool_blocks else self._reason
        delta = {
            "type": "message_delta",
            "delta": {"stop_reason": _STOP_OUT.get(reason, "end_turn"), "stop_sequence": None},
            "usage": _usage_object(self._usage),
        }
        out.append(_event(b"message_delta", delta))
        out.append(b'event: message_stop\ndata: {"type":"message_stop"}\n\n')

    def error(self, out: list[bytes], error: ProviderError) -> None:
        """`event: error` (the SDK raises APIStatusError); no message_stop follows."""
        self.ended = True
        out.append(b"event: error\ndata: " + error_body(error) + b"\n\n")

    @property
    def usage_seen(self) -> TokenUsage | None:
        """The usage reported so far."""
        return self._usage


# ---- provider side ----------------------------------------------------------------------------

_PASSED_EXTRA = frozenset({"top_k", "thinking"})


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """A Messages body for `req`. JSON mode has no Messages equivalent: refused by name."""
    if req.response_format is not None:
        raise UnsupportedParameter("response_format", provider, "Anthropic's Messages API has no JSON mode; describe the JSON in the prompt or use a tool")
    messages: list[dict[str, Any]] = []
    for m in req.messages:
        if m.role == "tool":
            block: dict[str, Any] = {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.text()}
            if m.is_error:
                block["is_error"] = True
            _append(messages, "user", [block])
            continue
        blocks: list[dict[str, Any]] = [_block_out(p) for p in m.parts if p.kind == "image" or p.text]
        for call in m.tool_calls:
            try:
                args = orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                raise InvalidCompatRequest(f"tool call {call.id}: arguments are not JSON", "messages") from None
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": args})
        _append(messages, m.role, blocks or [{"type": "text", "text": ""}])
    body: dict[str, Any] = {"model": req.model, "max_tokens": req.max_tokens or DEFAULT_MAX_TOKENS, "messages": messages}
    if req.system:
        body["system"] = req.system
    if req.temperature is not None:
        body["temperature"] = req.temperature
    if req.top_p is not None:
        body["top_p"] = req.top_p
    if req.stop:
        body["stop_sequences"] = req.stop
    if req.tools:
        body["tools"] = [
            {"name": t.name, **({"description": t.description} if t.description else {}), "input_schema": t.parameters or {"type": "object", "properties": {}}}
            for t in req.tools
        ]
    choice: dict[str, Any] | None = None
    if req.tool_choice is not None:
        choice = {"auto": {"type": "auto"}, "none": {"type": "none"}, "required": {"type": "any"}}.get(req.tool_choice) or {"type": "tool", "name": req.tool_choice}
    if req.parallel_tool_calls is False and req.tools:
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    if choice is not None:
        body["tool_choice"] = choice
    if req.stream:
        body["stream"] = True
    for key, value in req.extra.items():
        if key not in _PASSED_EXTRA:
            raise UnsupportedParameter(key, provider)
        body[key] = value
    return body


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role become one message (all of a turn's tool results must
    share one user message)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _block_out(p: Part) -> dict[str, Any]:
    if p.kind == "text":
        return {"type": "text", "text": p.text}
    if p.url:
        return {"type": "image", "source": {"type": "url", "url": p.url}}
    return {"type": "image", "source": {"type": "base64", "media_type": p.media_type, "data": p.data}}


def usage_from(doc: Any) -> TokenUsage | None:
    """IR usage from a Messages `usage` (input includes cache creation and cache reads)."""
    if not isinstance(doc, dict):
        return None
    base = int_field(doc.get("input_tokens"))
    created = int_field(doc.get("cache_creation_input_tokens"))
    read = int_field(doc.get("cache_read_input_tokens"))
    total = None if base is None and created is None and read is None else (base or 0) + (created or 0) + (read or 0)
    return TokenUsage(total, int_field(doc.get("output_tokens")), read)


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a Messages `message` body."""
    if not isinstance(doc, dict):
        raise ValueError("not a Messages object")
    texts, calls = [], []
    for block in doc.get("content") or ():
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            calls.append(ToolCall(str(block.get("id")), str(block.get("name")), orjson.dumps(block.get("input") or {}).decode()))
    return ChatResponse(
        id=str(doc.get("id") or new_id()),
        model=str(doc.get("model") or model),
        text="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=_STOP_IN.get(doc.get("stop_reason") or "end_turn", "stop"),
        usage=usage_from(doc.get("usage")),
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """A Messages error body `{"type": "error", "error": {type, message}}`."""
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        return ProviderError(status, str(err.get("message") or "provider error"), err.get("type"), err.get("type"))
    return ProviderError(status, "provider error")


class StreamDecoder:
    """Messages stream events → encoder calls. Works on the data payloads alone (each carries
    its `type`), so the SSE `event:` line is not needed."""

    __slots__ = ("enc", "done", "_tool_of_block", "_tools", "_text_run")

    terminal_payload = None

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.done = False
        self._tool_of_block: dict[int, int] = {}
        self._tools = 0
        # An encoder that translates runs of text deltas in Rust (OpenAI's chunks) gets them,
        # nearly every event of a stream, without their being decoded here.
        self._text_run = getattr(encoder, "anthropic_text_run", None)

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate the data payloads of some SSE events; returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        loads = orjson.loads
        text_run = self._text_run
        i, n = 0, len(events)
        while i < n:
            if text_run is not None:
                i = text_run(out, events, i)
                if i == n:
                    break
            data = events[i]
            i += 1
            doc = loads(data)
            kind = doc.get("type")
            if kind == "content_block_delta":
                delta = doc["delta"]
                dkind = delta.get("type")
                if dkind == "text_delta":
                    enc.text(out, delta["text"])
                elif dkind == "input_json_delta":
                    index = self._tool_of_block.get(doc.get("index"))
                    if index is not None and delta.get("partial_json"):
                        enc.tool_args(out, index, delta["partial_json"])
            elif kind == "message_start":
                message = doc.get("message") or {}
                usage = usage_from(message.get("usage"))
                if usage is not None:
                    usage.output = None  # provisional; message_delta has the final count
                    enc.usage(usage)
                enc.start(out, message.get("id"), message.get("model"))
            elif kind == "content_block_start":
                block = doc.get("content_block") or {}
                if block.get("type") == "tool_use":
                    self._tool_of_block[doc.get("index")] = self._tools
                    enc.tool_start(out, self._tools, str(block.get("id")), str(block.get("name")))
                    self._tools += 1
            elif kind == "message_delta":
                usage = usage_from(doc.get("usage"))
                if usage is not None:
                    enc.usage(usage)
                reason = (doc.get("delta") or {}).get("stop_reason")
                if reason:
                    enc.finish(out, _STOP_IN.get(reason, "stop"))
            elif kind == "message_stop":
                self.done = True
                enc.end(out)
            elif kind == "error":
                self.done = True
                err = doc.get("error") or {}
                status = 529 if err.get("type") == "overloaded_error" else 500
                enc.error(out, ProviderError(status, str(err.get("message") or "stream error"), err.get("type"), err.get("type")))
        return out
