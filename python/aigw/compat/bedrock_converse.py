"""Amazon Bedrock's Converse / ConverseStream as a /compat provider format (providers.md §5).

Requests are Converse JSON (`system`, `messages` of content blocks, `inferenceConfig`,
`toolConfig`); the model is in the path, not the body. Whole answers are
`{"output": {"message"}, "stopReason", "usage"}`. Streams are AWS event streams
(`application/vnd.amazon.eventstream`): `PayloadReader` decodes the binary framing (the Rust
`EventStreamDecoder`) into the JSON boto3 shows for each event — `{"<eventType>": payload}`,
and `{"<exceptionType>": {"message"}}` for an in-stream exception — which `StreamDecoder`
translates. Images must be inline: Converse takes bytes (base64 in JSON) or S3 locations,
never an http(s) URL.
"""

from __future__ import annotations

import uuid
from typing import Any, Mapping

import orjson

from aigw._codec import EventStreamDecoder
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

_STOP_IN = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
#: In-stream exceptions (their `:exception-type`) → the HTTP status AWS gives the same error.
EXCEPTION_STATUS = {
    "throttlingException": 429,
    "modelStreamErrorException": 424,
    "validationException": 400,
    "internalServerException": 500,
    "serviceUnavailableException": 503,
    "modelTimeoutException": 408,
}
_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif", "image/webp": "webp"}


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """A Converse body for `req`. Refused by name: http(s) image URLs, JSON mode,
    `tool_choice: "none"`, `parallel_tool_calls: false` and sampling extras (Converse has no
    model-independent field for them)."""
    if req.response_format is not None:
        raise UnsupportedParameter("response_format", provider, "Converse has no JSON mode; describe the JSON in the prompt or use a tool")
    messages: list[dict[str, Any]] = []
    for i, m in enumerate(req.messages):
        if m.role == "tool":
            result: dict[str, Any] = {"toolUseId": m.tool_call_id, "content": [_tool_result_content(m.text())]}
            if m.is_error:
                result["status"] = "error"
            _append(messages, "user", [{"toolResult": result}])
            continue
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            if p.kind == "text":
                if p.text:
                    blocks.append({"text": p.text})
            elif p.url:
                raise UnsupportedParameter(f"messages[{i}].content image_url (http URL)", provider, "Converse takes image bytes: send the image as a data: URL")
            else:
                fmt = _IMAGE_FORMATS.get(p.media_type)
                if fmt is None:
                    raise UnsupportedParameter(f"messages[{i}].content image_url ({p.media_type})", provider, "Converse takes png, jpeg, gif or webp images")
                blocks.append({"image": {"format": fmt, "source": {"bytes": p.data}}})
        for call in m.tool_calls:
            try:
                args = orjson.loads(call.arguments or "{}")
            except orjson.JSONDecodeError:
                raise InvalidCompatRequest(f"tool call {call.id}: arguments are not JSON", "messages") from None
            blocks.append({"toolUse": {"toolUseId": call.id, "name": call.name, "input": args}})
        _append(messages, m.role, blocks or [{"text": " "}])  # Converse refuses empty content
    body: dict[str, Any] = {"messages": messages}
    if req.system:
        body["system"] = [{"text": req.system}]
    config: dict[str, Any] = {}
    if req.max_tokens is not None:
        config["maxTokens"] = req.max_tokens
    if req.temperature is not None:
        config["temperature"] = req.temperature
    if req.top_p is not None:
        config["topP"] = req.top_p
    if req.stop:
        config["stopSequences"] = req.stop
    if config:
        body["inferenceConfig"] = config
    if req.tools:
        tools = [
            {"toolSpec": {"name": t.name, **({"description": t.description} if t.description else {}), "inputSchema": {"json": t.parameters or {"type": "object", "properties": {}}}}}
            for t in req.tools
        ]
        body["toolConfig"] = {"tools": tools}
        if req.tool_choice is not None:
            body["toolConfig"]["toolChoice"] = _tool_choice(req.tool_choice, provider)
    elif req.tool_choice not in (None, "auto", "none"):
        raise InvalidCompatRequest("tool_choice names a tool but no tools are given", "tool_choice")
    if req.parallel_tool_calls is False:
        raise UnsupportedParameter("parallel_tool_calls", provider, "Converse cannot be limited to one tool call per turn")
    for key in req.extra:
        raise UnsupportedParameter(key, provider)
    return body


def _tool_choice(choice: str, provider: str) -> dict[str, Any]:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if choice == "none":
        raise UnsupportedParameter("tool_choice", provider, "Converse has no 'none' (leave the tools out instead)")
    return {"tool": {"name": choice}}


def _tool_result_content(text: str) -> dict[str, Any]:
    """A JSON object result as a `json` block (what Converse prefers), anything else as text."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"text": text}
    return {"json": value} if isinstance(value, dict) else {"text": text}


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Consecutive turns of one role share one message (Converse alternates roles, and all of a
    turn's tool results go in one user message)."""
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def usage_from(doc: Any) -> TokenUsage | None:
    """IR usage from Converse `usage`: input includes cache reads and writes."""
    if not isinstance(doc, dict):
        return None
    base = int_field(doc.get("inputTokens"))
    read = int_field(doc.get("cacheReadInputTokens"))
    written = int_field(doc.get("cacheWriteInputTokens"))
    total = None if base is None and read is None and written is None else (base or 0) + (read or 0) + (written or 0)
    return TokenUsage(total, int_field(doc.get("outputTokens")), read)


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a Converse answer (reasoning blocks are left out)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("output"), dict):
        raise ValueError("not a Converse answer")
    message = doc["output"].get("message") or {}
    texts, calls = [], []
    for block in message.get("content") or ():
        if "text" in block:
            texts.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(ToolCall(str(use.get("toolUseId")), str(use.get("name")), orjson.dumps(use.get("input") or {}).decode()))
    return ChatResponse(
        id="chatcmpl-" + uuid.uuid4().hex[:24],
        model=model,
        text="".join(texts) if texts or not calls else None,
        tool_calls=calls,
        finish_reason=_STOP_IN.get(doc.get("stopReason") or "end_turn", "stop"),
        usage=usage_from(doc.get("usage")),
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """Bedrock's `{"message": …}` (sometimes `Message`); the exception name is in a header
    the translation does not see, so the type is left to the status."""
    message = None
    if isinstance(doc, dict):
        message = doc.get("message") or doc.get("Message")
    return ProviderError(status, str(message or "provider error"))


class PayloadReader:
    """AWS event-stream bytes → one JSON payload per message, as boto3 names them:
    `{"<eventType>": event}`, `{"<exceptionType>": {"message"}}` for an exception message.
    ValueError on a broken frame (bad CRC, over the limits)."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The payloads of the messages `chunk` completed."""
        return [_payload(headers, payload) for headers, payload in self._decoder.feed(chunk)]

    def finish(self) -> bool:
        """True when a partial message was left (the stream was cut)."""
        return self._decoder.finish()


def _payload(headers: Mapping[str, Any], payload: bytes) -> bytes:
    kind = headers.get(":message-type")
    if kind == "exception":
        name = str(headers.get(":exception-type") or "internalServerException")
        return orjson.dumps({name: orjson.loads(payload) if payload else {}})
    if kind == "error":
        return orjson.dumps({"internalServerException": {"message": str(headers.get(":error-message") or headers.get(":error-code") or "stream error")}})
    name = headers.get(":event-type")
    return b'{"' + str(name).encode() + b'":' + (payload or b"{}") + b"}"


class StreamDecoder:
    """ConverseStream events → encoder calls. `metadata` (usage) is the last event and ends
    the answer; an exception ends it with the front door's error."""

    __slots__ = ("enc", "started", "done", "_stopped", "_tool_of_block", "_tools")

    terminal_payload = None

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.started = False
        self.done = False
        self._stopped = False
        self._tool_of_block: dict[Any, int] = {}
        self._tools = 0

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate some event payloads (see PayloadReader); returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        for data in events:
            doc = orjson.loads(data)
            if not isinstance(doc, dict) or len(doc) != 1:
                continue
            ((kind, body),) = doc.items()
            if not isinstance(body, dict):
                body = {}
            if kind == "contentBlockDelta":
                delta = body.get("delta") or {}
                if "text" in delta:
                    if delta["text"]:
                        self._start(out)
                        enc.text(out, delta["text"])
                elif "toolUse" in delta:
                    index = self._tool_of_block.get(body.get("contentBlockIndex"))
                    fragment = (delta["toolUse"] or {}).get("input")
                    if index is not None and fragment:
                        enc.tool_args(out, index, fragment)
            elif kind == "messageStart":
                self._start(out)
            elif kind == "contentBlockStart":
                use = (body.get("start") or {}).get("toolUse")
                if isinstance(use, dict):
                    self._start(out)
                    self._tool_of_block[body.get("contentBlockIndex")] = self._tools
                    enc.tool_start(out, self._tools, str(use.get("toolUseId")), str(use.get("name")))
                    self._tools += 1
            elif kind == "messageStop":
                self._start(out)
                self._stopped = True
                enc.finish(out, _STOP_IN.get(body.get("stopReason") or "end_turn", "stop"))
            elif kind == "metadata":
                usage = usage_from(body.get("usage"))
                if usage is not None:
                    enc.usage(usage)
                self._end(out)
            elif kind.endswith("Exception"):
                self.done = True
                enc.error(out, ProviderError(EXCEPTION_STATUS.get(kind, 500), str(body.get("message") or kind), kind, kind))
        return out

    def _start(self, out: list[bytes]) -> None:
        if not self.started:
            self.started = True
            self.enc.start(out, None, None)

    def _end(self, out: list[bytes]) -> None:
        if not self.done:
            self.done = True
            self._start(out)
            if not self._stopped:
                self.enc.finish(out, "stop")
            self.enc.end(out)

    def close(self) -> list[bytes]:
        """The body ended: a stream that reached `messageStop` without `metadata` still ended
        (usage unknown); one that did not is left broken."""
        out: list[bytes] = []
        if self._stopped:
            self._end(out)
        return out
