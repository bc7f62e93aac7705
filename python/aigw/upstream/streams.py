"""Framing adapters over `aigw._codec`: turn a streamed response body into SSE events or NDJSON
lines, one list per network read (Rust does the splitting; nothing here loops over bytes)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aigw._codec import NdjsonDecoder, SseDecoder

from .errors import UpstreamProtocolError, UpstreamStreamTruncated
from .response import UpstreamResponse

SseEvent = tuple[str | None, bytes, str | None]


async def sse_events(resp: UpstreamResponse, *, max_event_size: int = 8 << 20) -> AsyncIterator[list[SseEvent]]:
    """Yield the SSE events of `resp`'s body as lists of (event_type, data, id), one list per
    read that completed at least one event. Raises UpstreamStreamTruncated when the body ends
    inside an event (the partial event is dropped, never fabricated), UpstreamProtocolError
    when an event exceeds `max_event_size`."""
    decoder = SseDecoder(max_event_size)
    async for chunk in resp.iter_chunks():
        try:
            events = decoder.feed(chunk)
        except ValueError as e:
            resp.close()
            raise UpstreamProtocolError(f"invalid event stream: {e}") from None
        if events:
            yield events
    if decoder.finish():
        raise UpstreamStreamTruncated("event stream ended inside an event")


async def ndjson_lines(resp: UpstreamResponse, *, max_line_size: int = 8 << 20) -> AsyncIterator[list[bytes]]:
    """Yield the non-empty lines of an NDJSON body, one list per read that completed a line.
    A final line without a newline is yielded at the end (Ollama ends with one); a line over
    `max_line_size` raises UpstreamProtocolError."""
    decoder = NdjsonDecoder(max_line_size)
    async for chunk in resp.iter_chunks():
        try:
            lines = decoder.feed(chunk)
        except ValueError as e:
            resp.close()
            raise UpstreamProtocolError(f"invalid NDJSON stream: {e}") from None
        if lines:
            yield lines
    last = decoder.finish()
    if last is not None:
        yield [last]
