"""A fast simulated OpenAI chat upstream for `aigw bench`: raw asyncio, HTTP/1.1 keep-alive.

`POST .../chat/completions` answers a `chat.completion` whose reply has `max_tokens` words
(default 16), or with `"stream": true` an SSE stream of one `chat.completion.chunk` per word,
a usage chunk when `stream_options.include_usage` is set, then `data: [DONE]`. It costs a few
microseconds per request, so the gateway in front of it is what a benchmark measures.
`GET /__bench/stats` answers `{"requests": N}`: the chat requests it has answered, which a
benchmark compares with the requests it counted.

    python -m aigw.bench.upstream --port 0        # prints "listening on 127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import orjson

__all__ = ["FastUpstream", "completion_body", "start_upstream"]

STATS_PATH = b"/__bench/stats"
_WORD = "tok"
_MAX_WORDS = 100_000


def _words(body: dict[str, Any]) -> int:
    n = body.get("max_tokens") or body.get("max_completion_tokens") or 16
    return max(1, min(int(n), _MAX_WORDS)) if isinstance(n, int) and not isinstance(n, bool) else 16


def _prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return 0
    return sum(len(str(m.get("content", "")).split()) for m in messages if isinstance(m, dict))


def completion_body(model: str, words: int, prompt_tokens: int) -> bytes:
    """The whole `chat.completion` answer for `words` reply words."""
    return orjson.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": 1700000000,
            "model": model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": " ".join([_WORD] * words)}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words},
        }
    )


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


def _event(doc: dict[str, Any]) -> bytes:
    return _chunk(b"data: " + orjson.dumps(doc) + b"\n\n")


def stream_body(model: str, words: int, prompt_tokens: int, usage: bool) -> bytes:
    """The chunked-encoded SSE stream for `words` reply words (one event per word)."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1700000000, "model": model}
    parts = [_event({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})]
    word = _event({**base, "choices": [{"index": 0, "delta": {"content": _WORD + " "}, "finish_reason": None}]})
    parts.extend([word] * words)
    parts.append(_event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
    if usage:
        total = prompt_tokens + words
        parts.append(_event({**base, "choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": total}}))
    parts.append(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
    return b"".join(parts)


class FastUpstream(asyncio.Protocol):
    """One client connection. Requests are answered in order, each with one write."""

    def __init__(self, counter: list[int]) -> None:
        self.buf = bytearray()
        self.counter = counter
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:  # noqa: D102
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:  # noqa: D102
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).lower()
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip() == b"content-length":
                    length = int(value.strip() or 0)
                elif name.strip() == b"transfer-encoding":
                    self._answer(411, b'{"error":"send a content-length"}', close=True)
                    return
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            self._respond(head, body)

    def _answer(self, status: int, body: bytes, *, content_type: bytes = b"application/json", close: bool = False) -> None:
        assert self.transport is not None
        extra = b"connection: close\r\n" if close else b""
        self.transport.write(
            b"HTTP/1.1 %d X\r\ncontent-type: %s\r\ncontent-length: %d\r\n%s\r\n%s" % (status, content_type, len(body), extra, body)
        )
        if close:
            self.transport.close()
            self.transport = None

    def _respond(self, head: bytes, body: bytes) -> None:
        method, _, rest = head.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"get" and path == STATS_PATH:
            self._answer(200, orjson.dumps({"requests": self.counter[0]}))
            return
        if method != b"post" or not path.endswith(b"/chat/completions"):
            self._answer(404, b'{"error":{"message":"the bench upstream serves POST .../chat/completions"}}')
            return
        try:
            doc = orjson.loads(body)
            assert isinstance(doc, dict)
        except (orjson.JSONDecodeError, AssertionError):
            self._answer(400, b'{"error":{"message":"the body is not a JSON object"}}')
            return
        self.counter[0] += 1
        model = str(doc.get("model") or "bench-model")
        words, prompt = _words(doc), _prompt_tokens(doc)
        if doc.get("stream") is True:
            options = doc.get("stream_options")
            usage = isinstance(options, dict) and options.get("include_usage") is True
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                + stream_body(model, words, prompt, usage)
            )
        else:
            self._answer(200, completion_body(model, words, prompt), content_type=b"application/json")


async def start_upstream(host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.Server, list[int]]:
    """Listen on the running loop; returns the server and its one-element request counter."""
    counter = [0]
    server = await asyncio.get_running_loop().create_server(lambda: FastUpstream(counter), host, port)
    return server, counter


async def _main(host: str, port: int) -> None:
    server, _ = await start_upstream(host, port)
    bound = server.sockets[0].getsockname()[1]
    print(f"listening on {host}:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """`python -m aigw.bench.upstream [--host H] [--port P]`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    from aigw.server.loops import run

    try:
        run(_main(args.host, args.port), "auto")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
