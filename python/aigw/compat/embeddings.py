"""`POST …/compat/embeddings`: OpenAI's embeddings schema to any provider that embeds.

| provider format | upstream call | answer mapped from |
|---|---|---|
| OpenAI-compatible family (openai, mistral, …, custom `format = "openai"`) | `embeddings` beside the provider's chat endpoint, body passed through with `model` rewritten | passed through |
| Google AI Studio (`gemini`) | one input: `v1beta/models/{m}:embedContent`; several: `:batchEmbedContents` | `embedding.values` / `embeddings[].values` |
| Workers AI | `run/{model}` with `{"text": [...]}` | `result.data` |

`encoding_format: "base64"` (the OpenAI SDK's default) is honoured for translated answers by
encoding each vector as little-endian float32. Token-array inputs and `dimensions` (Workers AI)
are refused with a 400 naming them; `user` is harmless and ignored. Gemini and Workers AI do
not report token usage: `usage` is zero there.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any, Mapping

import orjson

from aigw.compat import gemini_format, openai_format, workers_ai_format
from aigw.compat.ir import InvalidCompatRequest, ProviderError, UnsupportedParameter
from aigw.compat.translation import UpstreamCall, resolve_target
from aigw.errors import InvalidProvider

__all__ = ["EmbeddingTarget", "EmbeddingTranslation", "resolve_embedding_target"]

_ERRORS = {"openai": openai_format.parse_error, "gemini": gemini_format.parse_error, "workers-ai": workers_ai_format.parse_error}
#: Providers whose chat format is one with embeddings elsewhere, but not theirs (Vertex's
#: embeddings are `:predict`, not AI Studio's `embedContent`).
_NO_EMBEDDINGS = frozenset({"google-vertex-ai"})
_KNOWN = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


@dataclass(slots=True, frozen=True)
class EmbeddingTarget:
    """Where an embeddings request goes: provider slug, wire format, model, endpoint (None:
    per model)."""

    provider: str
    format: str
    model: str
    endpoint: str | None
    query: str = ""


def resolve_embedding_target(provider: str, model: str, providers: Mapping[str, Any], formats: Mapping[str, str]) -> EmbeddingTarget:
    """The embeddings target of `provider/model`. Raises InvalidProvider (400/2008) for an
    unknown provider or one without embeddings on /compat (Anthropic has none)."""
    chat = resolve_target(provider, model, providers, formats)
    if chat.format == "cohere":  # Cohere's embeddings on /compat: its OpenAI-compatible route
        return EmbeddingTarget(provider, "openai", model, "compatibility/v1/embeddings")
    if chat.format not in _ERRORS or provider in _NO_EMBEDDINGS:
        raise InvalidProvider(f"Invalid provider: {provider!r} has no embeddings on /compat")
    endpoint = None
    if chat.format == "openai":
        base = chat.chat_endpoint or "chat/completions"
        endpoint = base.removesuffix("chat/completions") + "embeddings"
        # Azure: the deployment is in the path; the body's model names it too.
        model = chat.body_model or model
    return EmbeddingTarget(provider, chat.format, model, endpoint, chat.query)


class EmbeddingTranslation:
    """One embeddings request bound to one target: the upstream call and the way back (the
    interface `TranslatingSink` uses: passthrough, response, error, stream_translator)."""

    __slots__ = ("doc", "target", "passthrough", "front", "inputs", "base64", "dimensions")

    def __init__(self, doc: dict, target: EmbeddingTarget) -> None:
        self.doc = doc
        self.target = target
        self.front = "openai"
        self.passthrough = target.format == "openai"
        raw = doc.get("input")
        if isinstance(raw, str):
            self.inputs = [raw]
        elif isinstance(raw, list) and raw:
            self.inputs = raw
        else:
            raise InvalidCompatRequest("'input' must be a string or a non-empty array", "input")
        fmt = doc.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            raise InvalidCompatRequest("'encoding_format' must be \"float\" or \"base64\"", "encoding_format")
        self.base64 = fmt == "base64"
        dims = doc.get("dimensions")
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int) or dims < 1):
            raise InvalidCompatRequest("'dimensions' must be a positive integer", "dimensions")
        self.dimensions = dims

    def upstream_call(self) -> UpstreamCall:
        """The endpoint, query and body for the target (400 naming a parameter it cannot honour)."""
        t = self.target
        if self.passthrough:
            return UpstreamCall(t.endpoint or "embeddings", t.query, orjson.dumps({**self.doc, "model": t.model}), False)
        for key in self.doc:
            if key not in _KNOWN:
                raise UnsupportedParameter(key, t.provider)
        if not all(isinstance(i, str) for i in self.inputs):
            raise UnsupportedParameter("input", t.provider, "only text inputs (no token arrays)")
        if t.format == "gemini":
            model = t.model.removeprefix("models/")
            extra = {"outputDimensionality": self.dimensions} if self.dimensions else {}
            if len(self.inputs) == 1:
                body: dict[str, Any] = {"content": {"parts": [{"text": self.inputs[0]}]}, **extra}
                return UpstreamCall(f"v1beta/models/{model}:embedContent", "", orjson.dumps(body), False)
            body = {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": i}]}, **extra} for i in self.inputs]}
            return UpstreamCall(f"v1beta/models/{model}:batchEmbedContents", "", orjson.dumps(body), False)
        if self.dimensions is not None:
            raise UnsupportedParameter("dimensions", t.provider, "the model's size is fixed")
        return UpstreamCall(t.model, "", orjson.dumps({"text": self.inputs}), False)

    def response(self, status: int, body: bytes) -> tuple[int, bytes]:
        """A whole upstream answer as OpenAI's embeddings list (errors in OpenAI's shape)."""
        if self.passthrough:
            return status, body
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            doc = None
        if status >= 400:
            return self.error(_ERRORS[self.target.format](status, doc))
        try:
            vectors = self._vectors(doc)
        except (TypeError, KeyError, AttributeError, ValueError):
            return self.error(ProviderError(502, f"{self.target.provider} answered a body that is not an embeddings answer"))
        data = [
            {"object": "embedding", "index": i, "embedding": _b64(v) if self.base64 else v}
            for i, v in enumerate(vectors)
        ]
        out = {"object": "list", "data": data, "model": self.target.model, "usage": {"prompt_tokens": 0, "total_tokens": 0}}
        return status, orjson.dumps(out)

    def _vectors(self, doc: Any) -> list[list[float]]:
        if self.target.format == "gemini":
            if "embeddings" in doc:
                return [[float(x) for x in e["values"]] for e in doc["embeddings"]]
            return [[float(x) for x in doc["embedding"]["values"]]]
        data = doc["result"]["data"]
        return [[float(x) for x in v] for v in data]

    def error(self, error: ProviderError) -> tuple[int, bytes]:
        """`error` in OpenAI's error shape."""
        if error.status == 529:
            error.status = 503
        return error.status, openai_format.error_body(error)

    def stream_translator(self) -> None:
        """Embeddings never stream."""
        return None


def _b64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
