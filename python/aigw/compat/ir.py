"""The one intermediate representation every /compat translation goes through.

A front door (OpenAI chat completions, Anthropic Messages) parses its request into a
`ChatRequest`; a provider format renders that into its own body. Whole answers come back the
other way as a `ChatResponse`. Streams do not build IR objects per event: a provider's stream
decoder calls the methods of a `StreamEncoder` (start, text, tool_start, tool_args, finish,
usage, end, error), and the front door's encoder writes its own events. So there are one
parser and one renderer per format, never a converter per pair of formats.

Finish reasons in the IR are OpenAI's words: "stop", "length", "tool_calls", "content_filter".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from aigw.errors import AigwError, BadRequest


class UnsupportedParameter(BadRequest):
    """A request parameter the chosen provider cannot honour: a 400 naming it (never dropped)."""

    def __init__(self, param: str, provider: str, why: str = "") -> None:
        reason = f": {why}" if why else ""
        super().__init__(f"parameter {param!r} is not supported for provider {provider!r}{reason}")
        self.param = param


class InvalidCompatRequest(BadRequest):
    """A request body that does not follow its front door's schema (400, naming the field)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(slots=True)
class Part:
    """One piece of message content: text, or an image by URL (https or data: URL)."""

    kind: str  # "text" | "image"
    text: str = ""
    url: str = ""  # images: an http(s) URL, or empty when the image is inline
    media_type: str = ""  # inline images: image/png ...
    data: str = ""  # inline images: base64, without the data: prefix


@dataclass(slots=True)
class ToolCall:
    """A call the assistant asked for; `arguments` is a JSON text, as OpenAI carries it."""

    id: str
    name: str
    arguments: str


@dataclass(slots=True)
class Message:
    """One turn. Roles: "user", "assistant", "tool" (a tool result for `tool_call_id`)."""

    role: str
    parts: list[Part] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    is_error: bool = False  # tool results: the tool failed (Anthropic's is_error)

    def text(self) -> str:
        """The text parts joined (images left out)."""
        return "".join(p.text for p in self.parts if p.kind == "text")


@dataclass(slots=True)
class Tool:
    """A function the model may call; `parameters` is a JSON Schema object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


@dataclass(slots=True)
class ChatRequest:
    """A chat request, independent of any wire format.

    `tool_choice`: None (provider default), "auto", "none", "required", or a tool name.
    `response_format`: None, {"type": "json_object"} or {"type": "json_schema", "name",
    "schema", "strict"}. `extra` holds parameters the front door accepted that only some
    providers honour (seed, presence_penalty ...): each provider format takes what it can and
    refuses the rest by name.
    """

    model: str
    messages: list[Message]
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    stream: bool = False
    include_usage: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class TokenUsage:
    """Tokens of one answer. `input` includes cached input; `cached_input` is the part of it
    read from the provider's prompt cache (None when the provider did not say)."""

    input: int | None = None
    output: int | None = None
    cached_input: int | None = None
    reasoning: int | None = None


@dataclass(slots=True)
class ChatResponse:
    """A whole answer, independent of any wire format."""

    id: str
    model: str
    text: str | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: TokenUsage | None = None
    created: int = 0


@dataclass(slots=True)
class ProviderError:
    """An error answer, read from any provider's error body."""

    status: int
    message: str
    type: str | None = None  # the provider's own error type/status word, when it has one
    code: str | int | None = None
    param: str | None = None


def gateway_error(err: AigwError) -> ProviderError:
    """The gateway's own error (`err`) as a ProviderError: its status, message and code, and the
    parameter it names, if any; a front door renders it in its own error shape."""
    return ProviderError(err.status, err.message, None, err.code, getattr(err, "param", None))


@dataclass(slots=True, frozen=True)
class Target:
    """Where a `provider/model` name goes: the provider slug, its wire format, the model, and
    the upstream call's shape. `chat_endpoint` None: the format decides per model (Gemini on
    AI Studio, Workers AI). `stream_endpoint`/`stream_query`: a stream's own operation
    (Vertex `:streamGenerateContent?alt=sse`, Bedrock `converse-stream`). `body_model`: the
    body's `model` for formats that carry one ("": the model; None: left out, the model is in
    the path). `body_fields`: fields added to the body (Vertex's `anthropic_version`)."""

    provider: str
    format: str
    model: str
    chat_endpoint: str | None
    query: str = ""
    stream_endpoint: str | None = None
    stream_query: str | None = None
    body_model: str | None = ""
    body_fields: tuple[tuple[str, Any], ...] = ()

    def endpoint(self, stream: bool) -> tuple[str, str]:
        """(endpoint, query) of the call, streamed or not (`chat_endpoint` must be set)."""
        assert self.chat_endpoint is not None
        if stream and self.stream_endpoint is not None:
            return self.stream_endpoint, self.query if self.stream_query is None else self.stream_query
        return self.chat_endpoint, self.query

    def shape_body(self, body: dict[str, Any]) -> None:
        """Set (or remove) the body's `model` and add `body_fields`, in place."""
        if self.body_model is None:
            body.pop("model", None)
        else:
            body["model"] = self.body_model or self.model
        body.update(self.body_fields)


class StreamEncoder(Protocol):
    """What a front door does with a stream's events, as a provider decoder reports them.
    Each method appends already-serialized bytes to `out` (SSE lines for the client)."""

    def start(self, out: list[bytes], id: str | None, model: str | None) -> None:
        """The answer began (called once, before any content)."""

    def text(self, out: list[bytes], text: str) -> None:
        """A piece of assistant text."""

    def tool_start(self, out: list[bytes], index: int, id: str, name: str) -> None:
        """Tool call number `index` (0-based within this answer) began."""

    def tool_args(self, out: list[bytes], index: int, fragment: str) -> None:
        """A fragment of the JSON arguments of tool call `index`."""

    def finish(self, out: list[bytes], reason: str) -> None:
        """The answer's finish reason (IR words) is known."""

    def usage(self, usage: TokenUsage) -> None:
        """Token counts (the last call wins per field); written by `end`."""

    def end(self, out: list[bytes]) -> None:
        """The answer ended cleanly: write the closing events."""

    def error(self, out: list[bytes], error: ProviderError) -> None:
        """The stream broke: write the front door's in-stream error (no clean end follows)."""


def merge_usage(old: TokenUsage | None, new: TokenUsage) -> TokenUsage:
    """`new`'s known fields over `old`'s (streams report usage in pieces; last value wins)."""
    if old is None:
        return new
    return TokenUsage(
        new.input if new.input is not None else old.input,
        new.output if new.output is not None else old.output,
        new.cached_input if new.cached_input is not None else old.cached_input,
        new.reasoning if new.reasoning is not None else old.reasoning,
    )


def int_field(value: Any) -> int | None:
    """`value` when it is an int (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
