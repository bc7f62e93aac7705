"""Relay cost per event: a Bedrock AWS event stream beside the same stream as SSE (issue 11).

The logical stream is one Claude answer of 64 text deltas (message_start, content_block_start,
64 × content_block_delta, content_block_stop, message_delta, message_stop: 70 events), once
as Anthropic's SSE and once as Bedrock's `invoke-with-response-stream` answer (each event a
binary `chunk` message with its base64 `bytes` payload and CRCs, the last carrying
`amazon-bedrock-invocationMetrics`), built by the Bedrock simulator's own encoder.

Each call runs the gateway's real relay, the sink's `relay()` coroutine as the pipeline awaits
it, over the whole stream (so the per-stream work, `universal.created` and usage extraction, is
in it too, as it is per stream in the gateway):

* `ws`: `WebSocketSink.relay` (Universal WebSocket): both framings go through the Rust
  `StreamRelay` (framing `sse` or `eventstream`: CRCs, base64 `chunk`s decoded in Rust)
  straight into the connection's `WsCodec`, one `universal.stream` message per event.
* `http`: `HttpSink.relay` (provider route, bytes passed through a real `ResponseWriter`):
  SSE read beside the bytes by the Rust `SseDecoder`, the event stream by a `StreamRelay` fed
  without a WebSocket.

`size` says how the stream arrives: `1 read` (the whole stream in one network read: the
decoders' batch cost) or `70 reads` (one event per read, as a model streams tokens: the cost
per upstream read). Between reads the connection's output is drained as the event loop's flush
would. The upstream socket read itself is the same for both framings and not measured.
Target: event stream ≤ 1.5 × SSE per event, same surface and shape in the same run (the
table in benches/README.md).
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from aigw import _codec
from aigw.api.http_sink import HttpSink
from aigw.api.universal_ws import WebSocketSink
from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.builtins.providers.aws_bedrock import AwsBedrockProvider
from aigw.pipeline import Answer
from aigw.server.http_response import ResponseWriter
from aigw.testing.simulators.aws_bedrock import event as bedrock_event
from aigw.types import Framing

DELTAS = 64


def claude_events() -> list[dict[str, Any]]:
    """The Anthropic Messages events of one streamed answer with `DELTAS` text deltas."""
    return [
        {"type": "message_start", "message": {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet",
                                               "content": [], "stop_reason": None, "stop_sequence": None,
                                               "usage": {"input_tokens": 12, "output_tokens": 1}}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " token"}} for _ in range(DELTAS)),
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": DELTAS}},
        {"type": "message_stop"},
    ]  # fmt: skip


def sse_reads() -> list[bytes]:
    """The stream as Anthropic's SSE, one event per element."""
    return [b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n" for e in claude_events()]


def eventstream_reads() -> list[bytes]:
    """The stream as Bedrock's `invoke-with-response-stream` answer, one message per element."""
    events = claude_events()
    events[-1] = {**events[-1], "amazon-bedrock-invocationMetrics": {"inputTokenCount": 12, "outputTokenCount": DELTAS,
                                                                     "invocationLatency": 900, "firstByteLatency": 300}}
    return [bedrock_event("chunk", {"bytes": base64.b64encode(orjson.dumps(e)).decode()}) for e in events]  # fmt: skip


STREAMS = {
    "sse": (Framing.SSE, "text/event-stream", AnthropicProvider(), sse_reads()),
    "eventstream": (Framing.EVENTSTREAM, "application/vnd.amazon.eventstream", AwsBedrockProvider(), eventstream_reads()),
}
SHAPES = {"1 read": lambda reads: [b"".join(reads)], f"{DELTAS + 6} reads": lambda reads: reads}


def run_sync(coro: Any) -> Any:
    """Run a coroutine that never suspends (every await below completes at once) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the relay suspended: the fake connection should never push back")


class FakeWebSocket:
    """What `WebSocketSink` uses of `aigw.server.websocket.WebSocket`, over a real `WsCodec`:
    `send_text` queues a frame on the codec as the real one does; the flush is `drain()`."""

    closed = False
    is_writable = True

    def __init__(self) -> None:
        self.codec = _codec.WsCodec()

    def send_text(self, data: bytes) -> None:
        self.codec.send_text(data)

    def flush_soon(self) -> None:
        pass

    async def drained(self) -> None:
        """Never full: the flush is `drain()`, after the relay."""

    def drain(self) -> None:
        self.codec.data_to_send_vectored()


class FakeChannel:
    """The connection side of a `ResponseWriter`: queued bytes are dropped at each flush."""

    lost = False
    write_paused = False
    hard_limit = 1 << 30

    def __init__(self) -> None:
        self.queued: list[bytes] = []

    def queue(self, data: bytes, soon: bool = True) -> None:
        self.queued.append(data)

    def flush(self) -> None:
        self.queued.clear()

    def drain(self) -> None:
        self.queued.clear()

    def may_keep_alive(self) -> bool:
        return True


async def upstream(reads: list[bytes], flush: Any):
    """The upstream's reads; the event loop's flush of the client's output runs between them."""
    for chunk in reads:
        flush()
        yield chunk


def relay_once(surface: str, framing: Framing, content_type: str, provider: Any, reads: list[bytes]) -> Any:
    """One whole stream through the real sink's `relay()`; its RelayOutcome."""
    answer = Answer("ev1", "log1", 0, 200, content_type, headers=[(b"content-type", content_type.encode())])
    if surface == "ws":
        ws = FakeWebSocket()
        outcome = run_sync(WebSocketSink(ws, "ev1").relay(answer, upstream(reads, ws.drain), framing, provider, True))
        ws.drain()
    else:
        channel = FakeChannel()
        response = ResponseWriter(channel, method="POST", http_version="1.1", keep_alive=True)
        outcome = run_sync(HttpSink(response, step_header=False).relay(answer, upstream(reads, channel.drain), framing, provider, True))
    return outcome


@pytest.mark.benchmark(group="bedrock-relay")
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("framing", list(STREAMS))
@pytest.mark.parametrize("surface", ["ws", "http"])
def test_relay_stream(benchmark, surface, framing, shape):
    kind, content_type, provider, events = STREAMS[framing]
    reads = SHAPES[shape](events)
    outcome = relay_once(surface, kind, content_type, provider, reads)
    assert outcome.error is None and outcome.events == len(events)
    assert outcome.usage is not None and outcome.usage.tokens_in == 12 and outcome.usage.tokens_out == DELTAS
    benchmark.extra_info.update(
        frames=len(events), payload_bytes=sum(map(len, events)), impl=f"{surface} {framing}", op="relay", size=shape
    )
    benchmark(relay_once, surface, kind, content_type, provider, reads)
