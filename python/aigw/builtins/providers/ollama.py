"""Ollama's native API: `/api/chat`, `/api/generate`, NDJSON streams, usage in the final object.

Base `http://localhost:11434`, no auth (a client `Authorization` header is forwarded, for an
Ollama behind an authenticating proxy; no stored key is looked up). A request streams
unless its body says `"stream": false`: the answer is `application/x-ndjson`, one JSON object
per line, the last with `"done": true` and the counts: input `prompt_eval_count`, output
`eval_count` (providers.md §11). An error after the stream began is one more line
`{"error": "…"}`. The OpenAI-compatible routes (`v1/chat/completions`) work through the same
provider: OpenAI usage is read as well.
"""

from __future__ import annotations

from typing import Mapping

from aigw.providers import HttpProvider, int_or_none, loads_or_none, openai_usage
from aigw.types import Call, Usage


class OllamaProvider(HttpProvider):
    """A local (or self-hosted) Ollama server."""

    name = "ollama"
    default_base_url = "http://localhost:11434"
    stream_terminator = b"[DONE]"  # only the OpenAI-compatible routes send it
    usage_events = (0, 1)

    def expects_stream_terminator(self, call: Call) -> bool:
        """Only the OpenAI-compatible routes (`v1/...`) end with [DONE]; native NDJSON
        streams end with their `"done": true` object."""
        return call.endpoint.lstrip("/").startswith("v1/")

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """Ollama needs no key: never look one up (the client's headers go as sent)."""
        return True

    def usage_from_body(self, body: bytes) -> Usage | None:
        """The final object: a whole JSON answer, or the last line of an NDJSON body read whole."""
        doc = loads_or_none(body)
        if doc is None:
            lines = body.strip().rsplit(b"\n", 1)
            doc = loads_or_none(lines[-1])
        return self.usage_from_event(doc) if isinstance(doc, dict) else None

    def usage_from_event(self, doc: dict) -> Usage | None:
        """`prompt_eval_count` / `eval_count` of the `done` object, or OpenAI `usage`."""
        if doc.get("done") is True:
            tokens_in = int_or_none(doc.get("prompt_eval_count"))
            tokens_out = int_or_none(doc.get("eval_count"))
            if tokens_in is not None or tokens_out is not None:
                return Usage(tokens_in, tokens_out)
        return openai_usage(doc.get("usage"))
