"""Fakes for the pipeline's unit tests: a scripted upstream client (no sockets) and a sink that
records what it was asked to send. The providers are the real built-in adapters."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson

from aigw.builtins.memory_cache import MemoryCache
from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.builtins.providers.openai import OpenAIProvider
from aigw.errors import AigwError
from aigw.pipeline import Answer, GatewayPolicy, GatewayRequest, RelayOutcome, Runtime, StepRequest, run
from aigw.types import LogRecord, Usage
from aigw.upstream.errors import UpstreamConnectError, UpstreamConnectionClosed, UpstreamError
from aigw.upstream.response import Headers

OPENAI_URL = "http://openai.test/v1"
ANTHROPIC_URL = "http://anthropic.test"


def openai_body(text: str = "hi", tokens: tuple[int, int] = (3, 5)) -> bytes:
    return orjson.dumps(
        {"choices": [{"message": {"content": text}}], "usage": {"prompt_tokens": tokens[0], "completion_tokens": tokens[1]}}
    )


def sse(*payloads: bytes | dict) -> list[bytes]:
    """One chunk per SSE event."""
    return [b"data: " + (p if isinstance(p, bytes) else orjson.dumps(p)) + b"\n\n" for p in payloads]


STALL = "stall"  # an item of a scripted stream: send nothing more, keep the connection open


@dataclass(frozen=True)
class Pause:
    """An item of a scripted stream: send nothing for `seconds`, then go on."""

    seconds: float


@dataclass
class Reply:
    """One scripted upstream answer. `body` is a whole body; `chunks` a stream whose items are
    bytes, STALL, a Pause, or an exception raised at that point; `broken` breaks a whole-body read."""

    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[Any] | None = None
    broken: UpstreamError | None = None
    raise_on_request: UpstreamError | None = None


class FakeResponse:
    """The UpstreamResponse surface the pipeline uses."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.status = reply.status
        pairs = [(b"content-type", reply.content_type.encode())]
        pairs += [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
        self.headers = Headers(pairs)
        self.closed = False
        self.consumed = False
        self.buffered = 0
        self.complete = False

    @property
    def raw_headers(self) -> Headers:
        return self.headers

    async def read(self) -> bytes:
        self.consumed = True
        if self.reply.broken is not None:
            raise self.reply.broken
        self.complete = True
        return self.reply.body

    def iter_chunks(self) -> Any:
        return self._chunks()

    async def _chunks(self) -> Any:
        for item in self.reply.chunks or []:
            if item == STALL:
                await asyncio.Event().wait()
            if isinstance(item, Pause):
                await asyncio.sleep(item.seconds)
                continue
            if isinstance(item, BaseException):
                raise item
            await asyncio.sleep(0)
            yield item
        self.complete = True

    def close(self) -> None:
        self.closed = True


class FakeClient:
    """Answers requests from per-URL-prefix scripts (a list of Reply per host, consumed in
    order; the last one repeats) and records every request."""

    def __init__(self, **scripts: list[Reply]) -> None:
        self.scripts = {name.replace("_", "-"): list(replies) for name, replies in scripts.items()}
        self.requests: list[dict[str, Any]] = []
        self.responses: list[FakeResponse] = []

    async def request(self, method: str, url: str, headers: Any = (), body: bytes | None = None, *, first_byte_timeout: float | None = None, **kw: Any) -> FakeResponse:
        host = url.split("//", 1)[1].split(".test", 1)[0]
        self.requests.append({"host": host, "url": url, "headers": dict(headers), "body": body, "first_byte_timeout": first_byte_timeout})
        script = self.scripts[host]
        reply = script.pop(0) if len(script) > 1 else script[0]
        await asyncio.sleep(0)
        if reply.raise_on_request is not None:
            raise reply.raise_on_request
        resp = FakeResponse(reply)
        self.responses.append(resp)
        return resp

    def hosts(self) -> list[str]:
        return [r["host"] for r in self.requests]


class RecordingSink:
    """Records the answer: a delivered body, a failure, or a relayed stream and its end."""

    def __init__(self) -> None:
        self.delivered: tuple[Answer, bytes] | None = None
        self.failed: tuple[Answer, AigwError] | None = None
        self.relayed: list[bytes] = []
        self.started: Answer | None = None
        self.ended: tuple[Answer, Usage | None, AigwError | None] | None = None

    def deliver(self, answer: Answer, body: bytes) -> None:
        assert self.delivered is None and self.failed is None and self.started is None
        self.delivered = (answer, body)

    def fail(self, answer: Answer, error: AigwError) -> None:
        assert self.delivered is None and self.failed is None and self.started is None
        self.failed = (answer, error)

    async def relay(self, answer: Answer, chunks: Any, framing: Any, provider: Any, collect: bool) -> RelayOutcome:
        self.started = answer
        error = None
        try:
            async for chunk in chunks:
                self.relayed.append(chunk)
        except AigwError as exc:
            error = exc
        data = b"".join(self.relayed)
        terminator = provider.stream_terminator
        saw = terminator is not None and b"data: " + terminator in data
        return RelayOutcome([], [], len(self.relayed), error, data if collect else None, None, saw)

    def end_stream(self, answer: Answer, usage: Usage | None, error: AigwError | None) -> None:
        assert self.started is not None and self.ended is None
        self.ended = (answer, usage, error)

    @property
    def status(self) -> int:
        answer = (self.delivered or self.failed or (self.started,))[0]
        return answer.status


class Keys:
    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keys = {"openai": "sk-stored-openai", "anthropic": "sk-stored-anthropic"} if keys is None else keys

    def lookup(self, provider: str, alias: str | None) -> str | None:
        return self.keys.get(provider)


class RecordingLogger:
    name = "recording"

    def __init__(self) -> None:
        self.records: list[LogRecord] = []

    async def start(self) -> None: ...

    def log(self, record: LogRecord) -> None:
        self.records.append(record)

    async def close(self) -> None: ...


def runtime(client: FakeClient, *, cache: bool = False, keys: dict[str, str] | None = None) -> Runtime:
    providers = {"openai": OpenAIProvider("openai", OPENAI_URL), "anthropic": AnthropicProvider("anthropic", ANTHROPIC_URL)}
    return Runtime(providers, Keys(keys), client, MemoryCache() if cache else None, None, [RecordingLogger()])


def openai_step(prompt: str = "hello", *, stream: bool = False, headers: dict | None = None, config: dict | None = None, model: str = "gpt-4o-mini") -> StepRequest:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], **({"stream": True} if stream else {})}
    return StepRequest("openai", "chat/completions", dict(headers or {}), orjson.dumps(body), stream, model, config)


def anthropic_step(prompt: str = "hello", *, stream: bool = False, headers: dict | None = None, config: dict | None = None) -> StepRequest:
    body = {"model": "claude-x", "max_tokens": 10, "messages": [{"role": "user", "content": prompt}], **({"stream": True} if stream else {})}
    return StepRequest("anthropic", "v1/messages", dict(headers or {}), orjson.dumps(body), stream, "claude-x", config)


async def send(rt: Runtime, *steps: StepRequest, gw: GatewayPolicy | None = None, principal: str | None = None, headers: dict | None = None) -> tuple[RecordingSink, LogRecord]:
    """Run one request through the pipeline; the sink and the log record."""
    sink = RecordingSink()
    request = GatewayRequest("default", "websocket", "e1", list(steps), headers or {}, principal=principal)
    record = await run(rt, gw or GatewayPolicy("default"), request, sink)
    return sink, record


def reset(after: str = "mid-body") -> UpstreamConnectionClosed:
    return UpstreamConnectionClosed(f"connection lost {after}: reset by peer")


def refused() -> UpstreamConnectError:
    return UpstreamConnectError("cannot connect to openai.test:80: refused")
