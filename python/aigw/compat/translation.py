"""One /compat request's translation, both ways: which provider and format a `provider/model`
name means, the upstream call to make, and how its answer (whole, error, or stream) comes back
in the front door's schema.

Front doors: "openai" (chat completions) and "anthropic" (Messages). Provider formats:
"openai" (the OpenAI-compatible family, Azure, custom providers by default), "anthropic",
"gemini", "workers-ai", "cohere" (v2 chat), "bedrock-converse". The cloud providers whose model
name carries more (Azure's resource, Vertex's publisher, Bedrock's region) get their targets
from `cloud_targets`. When the front door and the provider speak the same format the body passes
through with only `model` rewritten, and the answer is relayed untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Callable, Mapping

import orjson

from aigw.compat import anthropic_format, bedrock_converse, cohere_format, gemini_format, openai_format, workers_ai_format
from aigw.compat.cloud_targets import CLOUD_TARGETS
from aigw.compat.ir import InvalidCompatRequest, ProviderError, StreamEncoder, Target, TokenUsage
from aigw.errors import InvalidProvider

#: Provider format modules by name. Each has build_request, parse_response, parse_error and
#: StreamDecoder; one whose streams are not SSE also has a PayloadReader (bytes → payloads).
FORMATS: dict[str, ModuleType] = {
    "openai": openai_format,
    "anthropic": anthropic_format,
    "gemini": gemini_format,
    "workers-ai": workers_ai_format,
    "cohere": cohere_format,
    "bedrock-converse": bedrock_converse,
}
#: Formats whose body names the model (the others carry it in the path).
_MODEL_IN_BODY = frozenset({"openai", "anthropic", "cohere"})
#: Front door modules by name. Each has parse_request, render_response, error_body and an encoder.
FRONT_DOORS = ("openai", "anthropic")

_CHAT = "chat/completions"
#: Built-in providers on /compat: slug → (format, chat endpoint; None: the format decides).
BUILTIN_TARGETS: dict[str, tuple[str, str | None]] = {
    "openai": ("openai", _CHAT),
    "groq": ("openai", _CHAT),
    "mistral": ("openai", _CHAT),
    "deepseek": ("openai", _CHAT),
    "grok": ("openai", _CHAT),
    "openrouter": ("openai", _CHAT),
    "cerebras": ("openai", _CHAT),
    "fireworks": ("openai", _CHAT),
    "perplexity-ai": ("openai", _CHAT),
    "baseten": ("openai", _CHAT),
    "ollama": ("openai", "v1/chat/completions"),
    "huggingface": ("openai", "v1/chat/completions"),
    "cohere": ("cohere", "v2/chat"),
    "anthropic": ("anthropic", "v1/messages"),
    "google-ai-studio": ("gemini", None),
    "workers-ai": ("workers-ai", None),
}


def split_model(name: Any) -> tuple[str, str]:
    """`"provider/model"` → (provider, model); the model keeps any further slashes
    (`workers-ai/@cf/meta/llama-3.1-8b-instruct`). Raises InvalidProvider (400/2008)."""
    if not isinstance(name, str) or "/" not in name:
        raise InvalidProvider(f"Invalid provider: model must be '{{provider}}/{{model}}', got {name!r}" if isinstance(name, str) else "Invalid provider: 'model' is required")
    provider, _, model = name.partition("/")
    if not provider or not model:
        raise InvalidProvider(f"Invalid provider: model must be '{{provider}}/{{model}}', got {name!r}")
    return provider, model


def resolve_target(provider: str, model: str, providers: Mapping[str, Any], formats: Mapping[str, str]) -> Target:
    """The target of `provider/model` among the registered `providers`; `formats` are the
    configured `format` of `[providers.<slug>]` tables (custom providers). A provider plugin
    may say its own format with a `compat_format` attribute (and `compat_endpoint`).
    Raises InvalidProvider (400/2008) for a provider that is unknown or has no /compat format."""
    registered = providers.get(provider)
    if registered is None:
        raise InvalidProvider(f"Invalid provider: {provider!r} is not a configured provider")
    fmt = formats.get(provider)
    cloud = CLOUD_TARGETS.get(provider)
    if fmt is None and cloud is not None:
        return cloud(model, registered)
    builtin = BUILTIN_TARGETS.get(provider)
    if fmt is None and builtin is not None:
        fmt, endpoint = builtin
    elif fmt is None:
        fmt = getattr(registered, "compat_format", None)
        endpoint = getattr(registered, "compat_endpoint", None)
    else:
        endpoint = builtin[1] if builtin is not None and builtin[0] == fmt else None
    if endpoint is None and fmt in ("openai", "anthropic"):
        endpoint = _CHAT if fmt == "openai" else "v1/messages"
    if fmt not in FORMATS:
        raise InvalidProvider(f"Invalid provider: {provider!r} is not available on /compat")
    return Target(provider, fmt, model, endpoint)


class Targets:
    """`resolve_target` over one gateway's `providers` and `formats`, remembered per
    (provider, model): a Target is frozen and depends on nothing else, and building one (a
    frozen dataclass, the provider's format looked up) was ~130 bytecodes of every /compat
    request. A name that raises is not remembered (it raises again)."""

    __slots__ = ("providers", "formats", "_found")

    #: Models are the client's text: at most this many targets are remembered.
    MAX_REMEMBERED = 10_000

    def __init__(self, providers: Mapping[str, Any], formats: Mapping[str, str]) -> None:
        self.providers = providers
        self.formats = formats
        self._found: dict[tuple[str, str], Target] = {}

    def __call__(self, provider: str, model: str) -> Target:
        """The Target of `provider/model` (what `resolve_target` returns or raises)."""
        key = (provider, model)
        found = self._found.get(key)
        if found is None:
            found = resolve_target(provider, model, self.providers, self.formats)
            if len(self._found) < self.MAX_REMEMBERED:
                self._found[key] = found
        return found


@dataclass(slots=True)
class UpstreamCall:
    """What to send upstream for one target."""

    endpoint: str
    query: str
    body: bytes
    stream: bool


class Translation:
    """One front-door request bound to one target: the upstream call, and the way back."""

    __slots__ = ("front", "target", "doc", "stream", "include_usage", "passthrough", "_ir")

    def __init__(self, front: str, doc: dict, target: Target) -> None:
        self.front = front
        self.target = target
        self.doc = doc
        self.passthrough = front == target.format
        self.stream = doc.get("stream") is True
        options = doc.get("stream_options")
        self.include_usage = front == "anthropic" or (self.stream and isinstance(options, dict) and options.get("include_usage") is True)
        self._ir = None

    def upstream_call(self) -> UpstreamCall:
        """The endpoint, query and body for the target. Raises UnsupportedParameter (400)
        naming a parameter the provider cannot honour, InvalidCompatRequest for a bad body."""
        target = self.target
        if self.passthrough:
            # A copy: a dynamic route's steps share the client's document.
            endpoint, query, body = passthrough_call(dict(self.doc), target, self.stream)
            return UpstreamCall(endpoint, query, body, self.stream)
        front = openai_format if self.front == "openai" else anthropic_format
        ir = front.parse_request(self.doc, target.model, target.provider)
        self._ir = ir
        fmt = FORMATS[target.format]
        body = fmt.build_request(ir, target.provider)
        if target.format in _MODEL_IN_BODY:
            target.shape_body(body)
        if target.chat_endpoint is not None:
            endpoint, query = target.endpoint(ir.stream)
        elif target.format == "gemini":
            endpoint, query = gemini_format.endpoint(target.model, ir.stream)
        elif target.format == "workers-ai":
            endpoint, query = target.model, ""
        else:
            endpoint, query = _CHAT, ""
        return UpstreamCall(endpoint, query, orjson.dumps(body), ir.stream)

    # -- the way back --
    def response(self, status: int, body: bytes) -> tuple[int, bytes]:
        """A whole upstream answer (success or error) in the front door's schema: (status, body)."""
        if self.passthrough:
            return status, body
        fmt = FORMATS[self.target.format]
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if status >= 400:
            return self.error(fmt.parse_error(status, doc))
        try:
            resp = fmt.parse_response(doc, self.target.model)
        except (ValueError, TypeError, AttributeError, KeyError):
            return self.error(ProviderError(502, f"{self.target.provider} answered a body that is not a chat answer"))
        render = openai_format.render_response if self.front == "openai" else anthropic_format.render_response
        return status, render(resp)

    def error(self, error: ProviderError) -> tuple[int, bytes]:
        """`error` in the front door's error shape, with the status its SDK expects (Anthropic's
        529 overload is 503 for OpenAI clients)."""
        return front_door_error(self.front, error)

    def stream_translator(self) -> "StreamTranslator | None":
        """The translator of the target's stream into the front door's events; None when the
        stream passes through as it is."""
        if self.passthrough:
            return None
        encoder: StreamEncoder
        if self.front == "openai":
            encoder = openai_format.ChunkEncoder(self.target.model, self.include_usage)
        else:
            encoder = anthropic_format.EventEncoder(self.target.model)
        fmt = FORMATS[self.target.format]
        return StreamTranslator(fmt.StreamDecoder(encoder), encoder, getattr(fmt, "PayloadReader", None))


def passthrough_call(doc: dict, target: Target, stream: bool) -> tuple[str, str, bytes]:
    """(endpoint, query, body) of a call to a target that speaks the front door's own schema:
    the client's document with its `model` set (or removed) and the target's `body_fields`
    added, changed in place and serialized."""
    target.shape_body(doc)
    return (*_passthrough_endpoint(target, stream), orjson.dumps(doc))


def _passthrough_endpoint(target: Target, stream: bool) -> tuple[str, str]:
    return target.endpoint(stream) if target.chat_endpoint else (_CHAT, "")


@dataclass(frozen=True, slots=True)
class Passthrough:
    """A plain `provider/model` whose provider speaks the front door's own schema, resolved
    once per name (`passthrough_of`): the body goes upstream with its model rewritten and the
    answer comes back as it came.

    `calls[stream]`: the (endpoint, query) of an unstreamed and a streamed call.
    `spliced_model`: the JSON string written over the body's lone top-level `model` string
    (`_codec.lone_model`) so the client's bytes go as they came; None when the target changes
    more than that value (removes it, adds fields): then the body is decoded and
    `passthrough_call` shapes it. `answering`: the `cf-aig-provider` / `cf-aig-model` fields.
    `provider` and `model`: the name's two parts (the step's)."""

    provider: str
    model: str
    calls: tuple[tuple[str, str], tuple[str, str]]
    spliced_model: bytes | None
    answering: tuple[tuple[str, str], ...]


def passthrough_of(front: str, target: Target, model: str) -> Passthrough | None:
    """The Passthrough of `target` (the client's `provider/model`) on chat front door `front`
    ("openai" or "anthropic"); None when the target speaks another format (its requests are
    translated)."""
    if target.format != front:
        return None
    calls = (_passthrough_endpoint(target, False), _passthrough_endpoint(target, True))
    spliced = None if target.body_model is None or target.body_fields else orjson.dumps(target.body_model or target.model)
    answering = (("cf-aig-provider", target.provider), ("cf-aig-model", target.model))
    return Passthrough(target.provider, model, calls, spliced, answering)


def front_door_error(front: str, error: ProviderError) -> tuple[int, bytes]:
    """`error` in the error shape of front door `front` ("openai" or "anthropic"), with the
    status its SDK expects (Anthropic's 529 overload is 503 for OpenAI clients)."""
    if front == "openai":
        if error.status == 529:
            error.status = 503
        return error.status, openai_format.error_body(error)
    return error.status, anthropic_format.error_body(error)


class StreamTranslator:
    """A provider's stream → the front door's SSE bytes. `feed` takes the event payloads
    (the data of parsed SSE events, or what the format's `reader` makes of its framing) and
    returns serialized SSE lines; `close` is the body's clean end; `fail` writes the front
    door's in-stream error when the stream broke. `reader`: None for SSE streams, else a
    factory of objects with `feed(bytes) -> payloads` and `finish() -> cut` (Bedrock's
    event stream)."""

    __slots__ = ("decoder", "encoder", "feed", "reader")

    def __init__(self, decoder: Any, encoder: Any, reader: Callable[[], Any] | None = None) -> None:
        self.decoder = decoder
        self.encoder = encoder
        self.feed: Callable[[list[bytes]], list[bytes]] = decoder.feed
        self.reader = reader

    @property
    def saw_terminator(self) -> bool:
        """The provider's end of stream (or its in-stream error) arrived."""
        return self.decoder.done

    @property
    def usage(self) -> TokenUsage | None:
        """Usage the provider reported so far."""
        return self.encoder.usage_seen

    def close(self) -> list[bytes]:
        """The upstream body ended. Formats without a terminator (Gemini) end here; for the
        others nothing is written (a missing terminator is a broken stream: see `fail`)."""
        closer = getattr(self.decoder, "close", None)
        return closer() if closer is not None else []

    def fail(self, status: int, message: str) -> list[bytes]:
        """The front door's in-stream error event for a broken stream."""
        out: list[bytes] = []
        if not self.encoder.ended:
            self.encoder.error(out, ProviderError(status, message))
        return out


def parse_body(body: bytes) -> dict:
    """The JSON object of a front-door request body (400 otherwise)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidCompatRequest("the request body is not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidCompatRequest("the request body must be a JSON object")
    return doc
