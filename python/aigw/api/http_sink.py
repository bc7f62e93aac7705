"""Answers over HTTP: the pipeline's `Sink` for the Universal HTTP endpoint and the provider
routes (http-api.md).

The answering provider's status, headers and body go to the client as they came (hop-by-hop
and framing headers replaced by this hop's own), plus the gateway's `cf-aig-*` response
headers. Anything but a JSON document is relayed as it arrives (`passes_through`): an SSE
stream stays SSE byte for byte, audio streams through. While relaying, the sink reads the
events beside the bytes (Rust decoders, one list per read) only to keep the first and last
payloads for usage and to see the provider's terminator; a stream that breaks after its head
was sent is ended abnormally (the connection closes without the last chunk) so that clients
and SDKs raise instead of taking a truncated answer for a whole one.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, AsyncIterator, Iterable

import orjson

from aigw._codec import HttpStreamConsumers, HttpWholeDeliver, NdjsonDecoder, SseDecoder, StreamRelay, relayed_headers
from aigw.errors import AigwError, http_error_body
from aigw.pipeline import Answer, RelayOutcome, StreamFailed, deliver_natively_to, relay_chunks
from aigw.protocol.http11 import REASONS
from aigw.server.app import ConnectionClosed
from aigw.server.http import JOIN_LIMIT, HttpConnection
from aigw.server.http_response import ENDED, NEW, STARTED, ResponseWriter
from aigw.slots_maker import slot_writer
from aigw.types import Framing, Usage

__all__ = ["HttpSink", "deliver_natively", "gateway_error_body", "plain_http_sink"]

_JSON = [("content-type", "application/json")]


def gateway_error_body(error: AigwError) -> bytes:
    """The gateway's own error in Cloudflare's shape (cloudflare-aigw.md §7), the same body the
    front door answers with (`http_error_body`)."""
    return orjson.dumps(http_error_body(error.status, error.code, error.message))


class HttpSink:
    """Answers one HTTP request through the server's `ResponseWriter`."""

    #: The pipeline relays every non-JSON answer as it arrives (see pipeline._streams).
    passes_through = True

    __slots__ = ("response", "step_header", "extra_headers")

    def __init__(self, response: Any, *, step_header: bool, extra_headers: Iterable[tuple[str, str]] = ()) -> None:
        self.response = response
        #: Whether to say which fallback step answered (`cf-aig-step`: the Universal endpoint).
        self.step_header = step_header
        self.extra_headers = list(extra_headers)

    def gateway_headers(self, answer: Answer) -> list[tuple[str, str]]:
        """The gateway's own response headers for `answer` (cf-aig-log-id, -event-id,
        -cache-status, and -step on the Universal endpoint). A surface that says more (e.g.
        /compat's cf-aig-provider/-model of the answering step) overrides this and extends it."""
        headers = [
            ("cf-aig-log-id", answer.log_id),
            ("cf-aig-event-id", answer.event_id),
            ("cf-aig-cache-status", answer.cache_status),
        ]
        if self.step_header:
            headers.append(("cf-aig-step", str(answer.step)))
        if self.extra_headers:
            headers += self.extra_headers
        return headers

    def deliver(self, answer: Answer, body: bytes) -> None:
        """The provider's whole answer (success or error) or a cache hit, as it came."""
        headers, has_content_type = relayed_headers(answer.headers)
        if not has_content_type:
            headers.append(("content-type", answer.content_type or "application/json"))
        self.response.send_whole(answer.status, headers + self.gateway_headers(answer), body)

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error before any output: its status and Cloudflare's error body."""
        if self.response.started:  # cannot happen through the pipeline; never send two heads
            self.response.abort()
            return
        self.response.send_whole(error.status, _JSON + self.gateway_headers(answer), gateway_error_body(error))

    async def relay(
        self, answer: Answer, chunks: AsyncIterator[bytes], framing: Framing, provider: Any, collect: bool
    ) -> RelayOutcome:
        """Send the head, then every upstream chunk unchanged as it arrives, pausing the
        upstream while the client is behind. Events are read beside the bytes for usage and
        the terminator."""
        response = self.response
        response.start(answer.status, relayed_headers(answer.headers)[0] + self.gateway_headers(answer))
        # A stream the gateway produced itself (a /compat translation) is not read back: its
        # producer knows its usage and terminator (`reads_events` False).
        events = _EventTap(framing if getattr(provider, "reads_events", True) else Framing.RAW, provider)
        tap = events.feed if events.decoder is not None else None
        collected: list[bytes] | None = [] if collect else None
        error: AigwError | None = None

        def consume(chunk: bytes) -> bool:
            # Runs inside the upstream's data_received for a pushed stream (relay_chunks).
            response.write(chunk)
            if collected is not None:
                collected.append(chunk)
            if tap is not None:
                tap(chunk)
            return response.is_writable  # False: stop reading upstream until the client catches up

        try:
            # The closure's work in one builtin for the server's own writer (_STREAMS).
            await relay_chunks(chunks, _STREAMS.make(response, collected, tap) or consume, response.drained)
            events.finish()
        except ConnectionClosed:
            raise asyncio.CancelledError from None  # the client is gone: so is this request
        except AigwError as exc:  # the upstream broke or went silent (UpstreamChunks)
            error = exc
        except ValueError as exc:  # an event the decoder refused (too big, malformed)
            error = StreamFailed(f"malformed upstream stream: {exc}")
        if error is None and events.truncated:
            error = StreamFailed("the upstream stream ended in the middle of an event")
        first, last, count = events.kept()
        usage = provider.usage_from_events(first, last) if (first or last) else None
        body = b"".join(collected) if collected is not None else None
        return RelayOutcome(first, last, count, error, body, usage, events.saw_terminator)

    def end_stream(self, answer: Answer, usage: Usage | None, error: AigwError | None) -> None:
        """The last chunk, or, when the stream broke, an abnormal end the client notices."""
        if error is not None:
            self.response.abort()
        else:
            self.response.end()


#: `HttpSink(response, step_header=...)` without extra headers, made without a Python
#: `__init__` frame (aigw.slots_maker.slot_writer): the provider routes make one per request.
plain_http_sink = slot_writer(HttpSink, ("response", "step_header"), {"extra_headers": ()})

def deliver_natively(sink_class: type[HttpSink]) -> bool:
    """Have the pipeline write the usual whole answer (a provider's JSON below 400 through the
    gateway's own client) to a sink of exactly `sink_class` whose writer has not started, as
    `deliver` then `ResponseWriter.send_whole` would write it, with no `Answer` made
    (rust/src/python/http_whole.rs); anything else still comes to `deliver`. `sink_class` must
    answer as HttpSink does: TypeError if it has its own `deliver` or `gateway_headers` (they
    would be skipped). False when the class was registered before."""
    if sink_class.deliver is not HttpSink.deliver or sink_class.gateway_headers is not HttpSink.gateway_headers:
        raise TypeError(f"{sink_class.__name__} answers in its own way: its answers cannot be written natively")
    return deliver_natively_to(HttpWholeDeliver((sink_class, ResponseWriter, HttpConnection), REASONS, NEW, ENDED))


deliver_natively(HttpSink)


class _EventTap:
    """Reads a relayed body's events without changing a byte: keeps the first and last
    payloads (for usage) and notes the provider's terminator. An AWS event stream is read by
    the Rust `StreamRelay` fed without a WebSocket (nothing per event in Python); its
    `exception` messages fail the stream as they do on the Universal WebSocket."""

    __slots__ = ("decoder", "kind", "terminator", "keep_first", "first", "last", "count", "saw_terminator", "truncated")

    def __init__(self, framing: Framing, provider: Any) -> None:
        keep_first, keep_last = getattr(provider, "usage_events", (0, 2))
        self.keep_first = keep_first
        self.first: list[bytes] = []
        self.last: deque[bytes] = deque(maxlen=max(keep_last, 1))
        self.count = 0
        self.truncated = False
        self.terminator = getattr(provider, "stream_terminator", None)
        self.saw_terminator = False
        if framing is Framing.SSE:
            self.decoder, self.kind = SseDecoder(), "sse"
        elif framing is Framing.NDJSON:
            self.decoder, self.kind = NdjsonDecoder(), "ndjson"
        elif framing is Framing.EVENTSTREAM:
            self.decoder, self.kind = StreamRelay("", "eventstream", keep_first=keep_first, keep_last=keep_last), "relay"
            self.saw_terminator = True  # an event stream ends with its last message
        else:  # audio, images: bytes only
            self.decoder, self.kind = None, "raw"
            self.saw_terminator = True

    def feed(self, chunk: bytes) -> None:
        decoder = self.decoder
        if decoder is None:
            return
        if self.kind == "relay":
            decoder.feed(chunk)  # counts and keeps in Rust; ValueError on a broken stream
            return
        items = decoder.feed(chunk)
        if not items:
            return
        if self.kind == "sse":
            items = [data for _event, data, _id in items]
        terminator = self.terminator
        for data in items:
            if terminator is not None and data == terminator:
                self.saw_terminator = True
                continue
            self.count += 1
            if len(self.first) < self.keep_first:
                self.first.append(data)
            self.last.append(data)

    def finish(self) -> None:
        decoder = self.decoder
        if decoder is None:
            return
        if self.kind == "ndjson":
            tail = decoder.finish()
            if tail is not None:
                self.feed_items([tail])
        else:
            self.truncated = bool(decoder.finish())

    def kept(self) -> tuple[list[bytes], list[bytes], int]:
        """(first payloads, last payloads, events read): what usage extraction and the log get,
        also after the stream broke."""
        if self.kind == "relay":
            return list(self.decoder.first), list(self.decoder.last), self.decoder.events
        return self.first, list(self.last), self.count

    def feed_items(self, items: list[bytes]) -> None:
        for data in items:
            self.count += 1
            self.last.append(data)


#: `HttpSink.relay`'s `consume` closure and the connection's scheduled flush in native code
#: (rust/src/python/http_stream.rs): `make(response, collected, tap)` gives the builtin for a
#: ResponseWriter on an HttpConnection, None for any other.
_STREAMS = HttpStreamConsumers((ResponseWriter, HttpConnection), (STARTED, ENDED), JOIN_LIMIT)
