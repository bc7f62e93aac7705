"""Anthropic Messages API: `x-api-key` + `anthropic-version`, named SSE events.

Usage: `message_start.message.usage` has the input tokens, `message_delta.usage.output_tokens`
is the cumulative final output count (providers.md §3). The stream ends with
`event: message_stop`, a JSON event that is relayed like any other (there is no `[DONE]`).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from aigw import _codec
from aigw.providers import HttpProvider, int_or_none, loads_or_none
from aigw.types import Call, Usage

DEFAULT_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    """api.anthropic.com; endpoint `v1/messages` (a bare `messages` gets its `v1/`)."""

    name = "anthropic"
    default_base_url = "https://api.anthropic.com"
    auth_header = "x-api-key"
    auth_scheme = ""
    stream_terminator = None
    usage_events = (1, 2)

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """Newer SDKs send `Authorization: Bearer`; older ones `x-api-key`: either counts."""
        return bool(headers.get("x-api-key") or headers.get("authorization"))

    def url_for(self, call: Call) -> str:
        """Accept `messages` as well as `v1/messages`."""
        endpoint = call.endpoint.lstrip("/")
        if not endpoint.startswith("v1/") and endpoint != "v1":
            endpoint = f"v1/{endpoint}"
        url = f"{self.base_url}/{endpoint}"
        return f"{url}?{call.query}" if call.query else url

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        """Anthropic rejects requests without `anthropic-version`: default it."""
        if not any(name == "anthropic-version" for name, _ in headers):
            headers.append(("anthropic-version", self.options.get("version", DEFAULT_VERSION)))

    def usage_from_body(self, body: bytes) -> Usage | None:
        """`usage.input_tokens` (plus cache tokens) and `usage.output_tokens`. Read by the
        Rust codec without decoding the rest of the answer (`anthropic_usage`'s rules)."""
        if type(body) is bytes:
            pair = _codec.anthropic_usage(body)
            return None if pair is None else Usage(*pair)
        doc = loads_or_none(body)
        return anthropic_usage(doc.get("usage")) if isinstance(doc, dict) else None

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """Input from message_start, output from the last message_delta (last value wins)."""
        return anthropic_stream_usage((*first, *last))

def anthropic_stream_usage(events: Sequence[bytes]) -> Usage | None:
    """Usage of a Messages stream from some of its events (in order): input tokens from
    `message_start`, output from the last `message_delta` (its count is cumulative)."""
    tokens_in = tokens_out = None
    for data in events:
        doc = loads_or_none(data)
        if not isinstance(doc, dict):
            continue
        kind = doc.get("type")
        if kind == "message_start" and isinstance(doc.get("message"), dict):
            usage = anthropic_usage(doc["message"].get("usage"))
        elif kind == "message_delta":
            usage = anthropic_usage(doc.get("usage"))
        else:
            continue
        if usage is not None:
            tokens_in = usage.tokens_in if usage.tokens_in is not None else tokens_in
            tokens_out = usage.tokens_out if usage.tokens_out is not None else tokens_out
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)


def anthropic_usage(usage) -> Usage | None:
    """Total input = input + cache creation + cache read tokens; output as reported."""
    if not isinstance(usage, dict):
        return None
    parts = [int_or_none(usage.get(k)) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    tokens_in = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    tokens_out = int_or_none(usage.get("output_tokens"))
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)
