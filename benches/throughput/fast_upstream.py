"""A fast fake OpenAI upstream for gateway benchmarks: raw asyncio protocol, HTTP/1.1 keep-alive.

POST .../chat/completions answers a fixed 371-byte chat.completion with usage, or, with
`"stream": true`, an SSE stream of --chunks chat.completion.chunk events (each its own HTTP
chunk and write) followed by `data: [DONE]`. POST .../messages answers as Anthropic's Messages API does (a
message with usage, or with `"stream": true` message_start, content_block_start, --chunks
content_block_delta events, content_block_stop, message_delta with usage, message_stop): the
upstream of /compat's translated path. A model name containing "paced" spaces the chunks
--paced-delay-ms apart. Costs ~10-15 µs of CPU per request, so the gateway is what's measured.

    python fast_upstream.py --port 18000 [--chunks 64] [--paced-delay-ms 1]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json

COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I help you today?"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
    },
    separators=(",", ":"),
).encode()


def chunk_event(i: int) -> bytes:
    data = json.dumps(
        {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "delta": {"content": f"tok{i} "}, "finish_reason": None}]},
        separators=(",", ":"),
    ).encode()
    return b"data: " + data + b"\n\n"


MESSAGE = json.dumps(
    {
        "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench",
        "content": [{"type": "text", "text": "Hello! How can I help you today?"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 9, "output_tokens": 9},
    },
    separators=(",", ":"),
).encode()  # fmt: skip


def anthropic_event(kind: str, data: dict) -> bytes:
    return b"event: %s\ndata: %s\n\n" % (kind.encode(), json.dumps({"type": kind, **data}, separators=(",", ":")).encode())


ANTHROPIC_HEAD = anthropic_event(
    "message_start",
    {"message": {"id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-bench", "content": [],
                 "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1}}},
) + anthropic_event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})  # fmt: skip
ANTHROPIC_TAIL = (
    anthropic_event("content_block_stop", {"index": 0})
    + anthropic_event("message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 64}})
    + anthropic_event("message_stop", {})
)


def anthropic_delta(i: int) -> bytes:
    return anthropic_event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": f"tok{i} "}})


def http_chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


@functools.lru_cache(maxsize=None)
def framed_event(anthropic: bool, i: int) -> bytes:
    """Event i of a stream as one HTTP chunk, built once: a burst's events then go out back to
    back (json.dumps and framing per event, 3.6 µs for Anthropic's and 4.6 for OpenAI's, made this upstream the slow side of a burst: the gateway
    read a few events at a time where the shared harness's upstream hands it dozens)."""
    return http_chunk(anthropic_delta(i) if anthropic else chunk_event(i))


class Upstream(asyncio.Protocol):
    def __init__(self, chunks: int, paced: float) -> None:
        self.buf = bytearray()
        self.chunks = chunks
        self.paced = paced
        self.transport = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            i = head.find(b"content-length:")
            if i >= 0:
                length = int(head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None].strip())
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            self.respond(head, body)

    def respond(self, head: bytes, body: bytes) -> None:
        if head.startswith(b"get /health"):
            self.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            return
        anthropic = head.split(b" ", 2)[1].split(b"?")[0].endswith(b"/messages")
        if b'"stream":true' in body.replace(b" ", b""):
            asyncio.get_running_loop().create_task(self.stream(b"paced" in body, anthropic))
            return
        answer = MESSAGE if anthropic else COMPLETION
        self.transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(answer), answer)
        )

    async def stream(self, paced: bool, anthropic: bool = False) -> None:
        t = self.transport
        t.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        if anthropic:
            t.write(http_chunk(ANTHROPIC_HEAD))
        for i in range(self.chunks):
            if paced and i:
                await asyncio.sleep(self.paced)
            if t.is_closing():
                return
            t.write(framed_event(anthropic, i))
        t.write(http_chunk(ANTHROPIC_TAIL if anthropic else b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=18000)
    ap.add_argument("--chunks", type=int, default=64)
    ap.add_argument("--paced-delay-ms", type=float, default=1.0)
    args = ap.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Upstream(args.chunks, args.paced_delay_ms / 1000), "127.0.0.1", args.port)
    print(f"fast upstream on 127.0.0.1:{args.port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
