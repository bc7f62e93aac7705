"""OpenAI chat completions: the /compat front door's schema, and the format of the
OpenAI-compatible family behind it (providers.md §1.1, §8).

Front door: `parse_request` (body → IR, refusing what it cannot carry), `render_response`
(IR → `chat.completion`), `ChunkEncoder` (stream events → `chat.completion.chunk` SSE lines and
the final `data: [DONE]`), `error_body` (OpenAI's error shape, so the SDK raises the right
class). Provider side: `build_request` (IR → body, for the Anthropic front door),
`parse_response`, `StreamDecoder`, `parse_error`.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from aigw._codec import anthropic_text_chunks
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

#: Parameters with no effect on the answer's content: accepted and not forwarded when the
#: provider has no equivalent (docs/compat.md lists them).
HARMLESS = frozenset(
    {"user", "store", "metadata", "service_tier", "prompt_cache_key", "safety_identifier", "prediction"}
)
#: Parameters whose default value is harmless to leave out (n=1, logprobs=false, penalties 0).
_DEFAULTS = {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0}
_HANDLED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop",
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "stream", "stream_options",
    }
)  # fmt: skip


# ---- front door: request ------------------------------------------------------------------


def parse_request(doc: Any, model: str, provider: str) -> ChatRequest:
    """The IR of an OpenAI chat-completions body whose model (prefix removed) is `model`.
    Raises InvalidCompatRequest for a malformed body and UnsupportedParameter for content the
    IR cannot carry (audio, files, legacy `functions`)."""
    if not isinstance(doc, dict):
        raise InvalidCompatRequest("the request body must be a JSON object")
    raw_messages = doc.get("messages")
    if not isinstance(raw_messages, list) or not raw_messages:
        raise InvalidCompatRequest("'messages' must be a non-empty array", "messages")
    system: list[str] = []
    messages: list[Message] = []
    for i, m in enumerate(raw_messages):
        if not isinstance(m, dict):
            raise InvalidCompatRequest(f"messages[{i}] must be an object", f"messages[{i}]")
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text_only(m.get("content"), f"messages[{i}].content", provider))
        elif role == "user":
            messages.append(Message("user", _parts(m.get("content"), f"messages[{i}].content", provider)))
        elif role == "assistant":
            messages.append(_assistant(m, i, provider))
        elif role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str):
                raise InvalidCompatRequest(f"messages[{i}].tool_call_id must be a string", f"messages[{i}].tool_call_id")
            text = _text_only(m.get("content"), f"messages[{i}].content", provider)
            messages.append(Message("tool", [Part("text", text)], tool_call_id=call_id))
        elif role == "function":
            raise UnsupportedParameter(f"messages[{i}].role=function", provider, "use tools and role 'tool'")
        else:
            raise InvalidCompatRequest(f"messages[{i}].role must be system, developer, user, assistant or tool", f"messages[{i}].role")
    req = ChatRequest(model=model, messages=messages, system="\n\n".join(system) if system else None)
    req.max_tokens = _opt_int(doc, "max_completion_tokens")
    if req.max_tokens is None:
        req.max_tokens = _opt_int(doc, "max_tokens")
    req.temperature = _opt_number(doc, "temperature")
    req.top_p = _opt_number(doc, "top_p")
    stop = doc.get("stop")
    if isinstance(stop, str):
        req.stop = [stop]
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        req.stop = stop or None
    elif stop is not None:
        raise InvalidCompatRequest("'stop' must be a string or an array of strings", "stop")
    req.tools = _tools(doc.get("tools"), provider)
    req.tool_choice = _tool_choice(doc.get("tool_choice"))
    ptc = doc.get("parallel_tool_calls")
    req.parallel_tool_calls = ptc if isinstance(ptc, bool) else None
    req.response_format = _response_format(doc.get("response_format"))
    req.stream = doc.get("stream") is True
    options = doc.get("stream_options")
    req.include_usage = req.stream and isinstance(options, dict) and options.get("include_usage") is True
    for key, value in doc.items():
        if key in _HANDLED or key in HARMLESS or value is None:
            continue
        if key in _DEFAULTS and value == _DEFAULTS[key]:
            continue
        req.extra[key] = value  # the provider format takes what it can and refuses the rest
    return req


def _opt_int(doc: dict, key: str) -> int | None:
    value = doc.get(key)
    if value is None:
        return None
    if int_field(value) is None or value < 1:
        raise InvalidCompatRequest(f"'{key}' must be a positive integer", key)
    return value


def _opt_number(doc: dict, key: str) -> float | None:
    value = doc.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidCompatRequest(f"'{key}' must be a number", key)
    return value


def _text_only(content: Any, where: str, provider: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = _parts(content, where, provider)
    if any(p.kind != "text" for p in parts):
        raise UnsupportedParameter(f"{where} (image)", provider, "only text is allowed here")
    return "".join(p.text for p in parts)


def _parts(content: Any, where: str, provider: str) -> list[Part]:
    if isinstance(content, str):
        return [Part("text", content)]
    if not isinstance(content, list):
        raise InvalidCompatRequest(f"{where} must be a string or an array of content parts", where)
    parts = []
    for j, item in enumerate(content):
        kind = item.get("type") if isinstance(item, dict) else None
        if kind == "text" and isinstance(item.get("text"), str):
            parts.append(Part("text", item["text"]))
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str):
                raise InvalidCompatRequest(f"{where}[{j}].image_url.url must be a string", f"{where}[{j}]")
            parts.append(image_part(url, f"{where}[{j}]"))
        elif kind == "refusal":
            parts.append(Part("text", str(item.get("refusal") or "")))
        else:
            raise UnsupportedParameter(f"{where}[{j}].type={kind}", provider)
    return parts


def image_part(url: str, where: str) -> Part:
    """An image part from an http(s) URL or a `data:<media>;base64,<data>` URL."""
    if url.startswith("data:"):
        head, sep, data = url[5:].partition(",")
        media, _, encoding = head.partition(";")
        if not sep or encoding != "base64" or not media.startswith("image/"):
            raise InvalidCompatRequest(f"{where}: a data URL image must be data:image/...;base64,...", where)
        return Part("image", media_type=media, data=data)
    if url.startswith(("https://", "http://")):
        return Part("image", url=url)
    raise InvalidCompatRequest(f"{where}: an image URL must be https://, http:// or a data: URL", where)


def _assistant(m: dict, i: int, provider: str) -> Message:
    if m.get("function_call") is not None:
        raise UnsupportedParameter(f"messages[{i}].function_call", provider, "use tool_calls")
    content = m.get("content")
    parts = [] if content is None else _parts(content, f"messages[{i}].content", provider)
    calls = []
    for k, call in enumerate(m.get("tool_calls") or []):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not isinstance(call.get("id"), str):
            raise InvalidCompatRequest(f"messages[{i}].tool_calls[{k}] needs an id and function.name", f"messages[{i}].tool_calls")
        args = fn.get("arguments")
        calls.append(ToolCall(call["id"], fn["name"], args if isinstance(args, str) else orjson.dumps(args or {}).decode()))
    return Message("assistant", parts, calls)


def _tools(raw: Any, provider: str) -> list[Tool] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise InvalidCompatRequest("'tools' must be an array", "tools")
    tools = []
    for i, t in enumerate(raw):
        if not isinstance(t, dict) or t.get("type") != "function":
            raise UnsupportedParameter(f"tools[{i}].type={t.get('type') if isinstance(t, dict) else t!r}", provider)
        fn = t.get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidCompatRequest(f"tools[{i}].function.name must be a string", f"tools[{i}]")
        params = fn.get("parameters")
        tools.append(Tool(fn["name"], fn.get("description"), params if isinstance(params, dict) else None))
    return tools or None


def _tool_choice(raw: Any) -> str | None:
    if raw is None or raw in ("auto", "none", "required"):
        return raw
    if isinstance(raw, dict) and raw.get("type") == "function":
        fn = raw.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
    raise InvalidCompatRequest("'tool_choice' must be auto, none, required or {type: function, function: {name}}", "tool_choice")


def _response_format(raw: Any) -> dict | None:
    if raw is None:
        return None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        spec = raw.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise InvalidCompatRequest("response_format.json_schema.schema must be an object", "response_format")
        return {"type": "json_schema", "name": spec.get("name") or "response", "schema": spec["schema"], "strict": spec.get("strict")}
    raise InvalidCompatRequest("response_format.type must be text, json_object or json_schema", "response_format")


# ---- front door: answers ----------------------------------------------------------------------


def usage_object(usage: TokenUsage) -> dict[str, Any]:
    """OpenAI's `usage` object for `usage` (cached and reasoning details when known)."""
    prompt, completion = usage.input or 0, usage.output or 0
    out: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if usage.cached_input is not None:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cached_input}
    if usage.reasoning is not None:
        out["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning}
    return out


def render_response(resp: ChatResponse) -> bytes:
    """The `chat.completion` body of `resp`."""
    message: dict[str, Any] = {"role": "assistant", "content": resp.text, "refusal": None}
    if resp.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in resp.tool_calls
        ]
    doc: dict[str, Any] = {
        "id": resp.id,
        "object": "chat.completion",
        "created": resp.created or int(time.time()),
        "model": resp.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": resp.finish_reason}],
    }
    if resp.usage is not None:
        doc["usage"] = usage_object(resp.usage)
    return orjson.dumps(doc)


def _error_type(status: int) -> str:
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 429:
        return "rate_limit_error"
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(error: ProviderError) -> bytes:
    """OpenAI's error shape `{"error": {message, type, param, code}}` for `error`."""
    return orjson.dumps(
        {"error": {"message": error.message, "type": _error_type(error.status), "param": error.param, "code": error.code}}
    )


def new_id() -> str:
    """A fresh `chatcmpl-…` id, for answers whose provider gave none."""
    return "chatcmpl-" + uuid.uuid4().hex[:24]


_DONE = b"data: [DONE]\n\n"


_TEXT_TAIL = b'},"finish_reason":null}]}\n\n'  # after a text delta's content


class ChunkEncoder:
    """Writes `chat.completion.chunk` SSE lines. Every chunk shares one pre-serialized head
    (id, created, model), so a text delta costs one string encode and one concatenation."""

    __slots__ = ("model", "include_usage", "id", "created", "_head", "_usage", "_tools_seen", "ended")

    def __init__(self, model: str, include_usage: bool, id: str | None = None, created: int | None = None) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = id
        self.created = created or int(time.time())
        self._head = b""
        self._usage: TokenUsage | None = None
        self._tools_seen = False
        self.ended = False

    def _set_head(self) -> None:
        self._head = b"".join(
            (
                b'data: {"id":', orjson.dumps(self.id or new_id()),
                b',"object":"chat.completion.chunk","created":', str(self.created).encode(),
                b',"model":', orjson.dumps(self.model), b',"choices":[{"index":0,"delta":',
            )
        )  # fmt: skip

    def start(self, out: list[bytes], id: str | None, model: str | None) -> None:
        """The role chunk: `delta: {role: assistant, content: ""}`."""
        if id:
            self.id = id
        if model:
            self.model = model
        self._set_head()
        out.append(self._head + b'{"role":"assistant","content":""},"finish_reason":null}]}\n\n')

    def text(self, out: list[bytes], text: str) -> None:
        """`delta: {content}`."""
        out.append(self._head + b'{"content":' + orjson.dumps(text) + _TEXT_TAIL)

    def anthropic_text_run(self, out: list[bytes], events: list[bytes], start: int) -> int:
        """The `delta: {content}` chunks of the run of Anthropic text-delta events from
        `events[start]`, built in Rust from each text's JSON literal as it came; returns the
        index of the first event it did not translate."""
        chunks, end = anthropic_text_chunks(events, start, self._head, _TEXT_TAIL)
        if end > start:
            out.append(chunks)
        return end

    def tool_start(self, out: list[bytes], index: int, id: str, name: str) -> None:
        """`delta.tool_calls[{index, id, type, function: {name, arguments: ""}}]`."""
        self._tools_seen = True
        call = {"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}
        out.append(self._head + b'{"tool_calls":[' + orjson.dumps(call) + b']},"finish_reason":null}]}\n\n')

    def tool_args(self, out: list[bytes], index: int, fragment: str) -> None:
        """`delta.tool_calls[{index, function: {arguments: fragment}}]`."""
        out.append(
            self._head + b'{"tool_calls":[{"index":' + str(index).encode() + b',"function":{"arguments":'
            + orjson.dumps(fragment) + b"}}]},\"finish_reason\":null}]}\n\n"
        )

    def finish(self, out: list[bytes], reason: str) -> None:
        """The finishing chunk: empty delta and `finish_reason`."""
        if reason == "stop" and self._tools_seen:
            reason = "tool_calls"
        out.append(self._head + b'{},"finish_reason":' + orjson.dumps(reason) + b"}]}\n\n")

    def usage(self, usage: TokenUsage) -> None:
        """Remember usage for the `choices: []` chunk (only with include_usage)."""
        self._usage = merge_usage(self._usage, usage)

    def end(self, out: list[bytes]) -> None:
        """The usage chunk (when asked for), then `data: [DONE]`."""
        if self.ended:
            return
        self.ended = True
        if self.include_usage:
            usage = orjson.dumps(usage_object(self._usage or TokenUsage()))
            out.append(self._head.rsplit(b'"choices":', 1)[0] + b'"choices":[],"usage":' + usage + b"}\n\n")
        out.append(_DONE)

    def error(self, out: list[bytes], error: ProviderError) -> None:
        """OpenAI's mid-stream error: `data: {"error": {...}}` (the SDK raises APIError); no [DONE]."""
        self.ended = True
        out.append(b"data: " + error_body(error) + b"\n\n")

    @property
    def usage_seen(self) -> TokenUsage | None:
        """The usage reported so far."""
        return self._usage


# ---- provider side ----------------------------------------------------------------------------

#: IR `extra` parameters an OpenAI-compatible provider takes as they are.
_PASSED_EXTRA = frozenset({"seed", "presence_penalty", "frequency_penalty", "logit_bias", "logprobs", "top_logprobs", "n", "reasoning_effort"})


def build_request(req: ChatRequest, provider: str) -> dict[str, Any]:
    """An OpenAI chat-completions body for `req` (the Anthropic front door's way in)."""
    messages: list[dict[str, Any]] = []
    if req.system:
        messages.append({"role": "system", "content": req.system})
    for m in req.messages:
        if m.role == "tool":
            messages.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.text()})
            continue
        entry: dict[str, Any] = {"role": m.role}
        if any(p.kind == "image" for p in m.parts):
            entry["content"] = [_part_out(p) for p in m.parts]
        else:
            entry["content"] = m.text() if m.parts or not m.tool_calls else None
        if m.tool_calls:
            entry["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in m.tool_calls
            ]
        messages.append(entry)
    body: dict[str, Any] = {"model": req.model, "messages": messages}
    if req.max_tokens is not None:
        body["max_completion_tokens" if provider == "openai" else "max_tokens"] = req.max_tokens
    for key in ("temperature", "top_p", "stop"):
        value = getattr(req, key)
        if value is not None:
            body[key] = value
    if req.tools:
        body["tools"] = [
            {"type": "function", "function": {k: v for k, v in (("name", t.name), ("description", t.description), ("parameters", t.parameters)) if v is not None}}
            for t in req.tools
        ]
    if req.tool_choice is not None:
        body["tool_choice"] = (
            req.tool_choice if req.tool_choice in ("auto", "none", "required") else {"type": "function", "function": {"name": req.tool_choice}}
        )
    if req.parallel_tool_calls is not None:
        body["parallel_tool_calls"] = req.parallel_tool_calls
    if req.response_format is not None:
        rf = req.response_format
        body["response_format"] = (
            rf if rf["type"] == "json_object"
            else {"type": "json_schema", "json_schema": {k: v for k, v in (("name", rf["name"]), ("schema", rf["schema"]), ("strict", rf.get("strict"))) if v is not None}}
        )  # fmt: skip
    if req.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}  # the front door always wants usage
    for key, value in req.extra.items():
        if key not in _PASSED_EXTRA:
            raise UnsupportedParameter(key, provider)
        body[key] = value
    return body


def _part_out(p: Part) -> dict[str, Any]:
    if p.kind == "text":
        return {"type": "text", "text": p.text}
    return {"type": "image_url", "image_url": {"url": p.url or f"data:{p.media_type};base64,{p.data}"}}


def usage_from(doc: Any) -> TokenUsage | None:
    """IR usage from an OpenAI `usage` object (also DeepSeek's cache-hit count)."""
    if not isinstance(doc, dict):
        return None
    details = doc.get("prompt_tokens_details")
    cached = int_field(details.get("cached_tokens")) if isinstance(details, dict) else None
    if cached is None:
        cached = int_field(doc.get("prompt_cache_hit_tokens"))
    out_details = doc.get("completion_tokens_details")
    reasoning = int_field(out_details.get("reasoning_tokens")) if isinstance(out_details, dict) else None
    return TokenUsage(int_field(doc.get("prompt_tokens")), int_field(doc.get("completion_tokens")), cached, reasoning)


_FINISH = {"stop": "stop", "length": "length", "tool_calls": "tool_calls", "content_filter": "content_filter", "function_call": "tool_calls"}


def parse_response(doc: Any, model: str) -> ChatResponse:
    """The IR of a `chat.completion` body."""
    if not isinstance(doc, dict):
        raise ValueError("not a chat.completion object")
    choices = doc.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    calls = [
        ToolCall(c.get("id") or f"call_{i}", (c.get("function") or {}).get("name", ""), (c.get("function") or {}).get("arguments") or "{}")
        for i, c in enumerate(message.get("tool_calls") or [])
    ]
    return ChatResponse(
        id=str(doc.get("id") or new_id()),
        model=str(doc.get("model") or model),
        text=message.get("content"),
        tool_calls=calls,
        finish_reason=_FINISH.get(choice.get("finish_reason") or "stop", "stop"),
        usage=usage_from(doc.get("usage")),
        created=int_field(doc.get("created")) or 0,
    )


def parse_error(status: int, doc: Any) -> ProviderError:
    """An OpenAI-family error body (also the flat shapes of Mistral, Cerebras, xAI)."""
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        return ProviderError(status, str(err.get("message") or "provider error"), err.get("type"), err.get("code"), err.get("param"))
    if isinstance(doc, dict):
        message = err if isinstance(err, str) else doc.get("message") or doc.get("detail")
        return ProviderError(status, str(message or "provider error"), doc.get("type"), doc.get("code"))
    return ProviderError(status, "provider error")


class StreamDecoder:
    """OpenAI-family `chat.completion.chunk` events → encoder calls."""

    __slots__ = ("enc", "started", "done", "_tools")

    terminal_payload = b"[DONE]"

    def __init__(self, encoder: StreamEncoder) -> None:
        self.enc = encoder
        self.started = False
        self.done = False
        self._tools: set[int] = set()

    def feed(self, events: list[bytes]) -> list[bytes]:
        """Translate the data payloads of some SSE events; returns the bytes to send."""
        out: list[bytes] = []
        enc = self.enc
        for data in events:
            if data == b"[DONE]":
                self.done = True
                enc.end(out)
                continue
            doc = orjson.loads(data)
            if not isinstance(doc, dict):
                continue
            if "error" in doc and not doc.get("choices"):
                enc.error(out, parse_error(500, doc))
                self.done = True
                continue
            if not self.started:
                self.started = True
                enc.start(out, doc.get("id"), doc.get("model"))
            usage = doc.get("usage") or (doc.get("x_groq") or {}).get("usage")
            if usage:
                u = usage_from(usage)
                if u is not None:
                    enc.usage(u)
            for choice in doc.get("choices") or ():
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    enc.text(out, text)
                for call in delta.get("tool_calls") or ():
                    index = call.get("index", 0)
                    fn = call.get("function") or {}
                    if index not in self._tools:
                        self._tools.add(index)
                        enc.tool_start(out, index, call.get("id") or f"call_{index}", fn.get("name") or "")
                    if fn.get("arguments"):
                        enc.tool_args(out, index, fn["arguments"])
                reason = choice.get("finish_reason")
                if reason:
                    enc.finish(out, _FINISH.get(reason, "stop"))
        return out
