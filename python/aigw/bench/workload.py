"""The load drivers of `aigw bench`: closed loop, `concurrency` requests outstanding at once.

* `ws` — ONE Universal WebSocket (`/v1/{account}/{gateway}`) carries every request, each tagged
  by its eventId; a finished request's answer triggers the next `universal.create`;
* `http` — `concurrency` workers over a keep-alive connection pool (one connection each);
* `http-new` — the same, but every request opens a new TCP (and TLS, for https) connection,
  which is the cost the multiplexed WebSocket avoids.

Every request ends as one sample: latency (send → last byte), time to the first streamed chunk
(streams), chunk count, and an error kind when it did not succeed (`status 502`, `stream
error 2005`, `incomplete stream`, an exception class). A stream that ends without its
terminator is an error, never a success.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

__all__ = ["Endpoints", "Recorder", "Workload", "drive", "request_body"]


@dataclass(frozen=True, slots=True)
class Workload:
    """What to send, how much of it, and how many at once."""

    surface: str = "ws"
    concurrency: int = 16
    #: Seconds to run; ignored when `requests` is set.
    duration: float = 10.0
    #: Exact number of requests to send (None: run for `duration`).
    requests: int | None = None
    stream: bool = True
    #: Words in the user prompt.
    prompt_words: int = 32
    #: `max_tokens` asked for (the simulator answers exactly that many words).
    max_tokens: int = 16
    model: str = "gpt-4o-mini"
    #: The provider of Universal requests (`ws`); HTTP surfaces name theirs in the URL.
    provider: str = "openai"


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where each surface sends its requests and with which credentials."""

    #: The Universal WebSocket URL (ws:// or wss://), None when the target has none.
    ws_url: str | None
    #: An OpenAI-compatible chat completions URL (http:// or https://).
    http_url: str | None
    #: Headers every request carries (cf-aig-authorization, a provider's Authorization).
    headers: dict[str, str] = field(default_factory=dict)
    #: The TLS context for wss/https (None: the system default).
    ssl_context: ssl.SSLContext | None = None


def request_body(workload: Workload) -> dict[str, Any]:
    """The OpenAI chat body every request sends."""
    prompt = " ".join(["word"] * max(1, workload.prompt_words))
    body: dict[str, Any] = {
        "model": workload.model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": workload.max_tokens,
    }
    if workload.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


class Recorder:
    """Counts and timings of one run; `take()` hands out the request budget."""

    def __init__(self, workload: Workload) -> None:
        self.workload = workload
        self.started = time.perf_counter()
        self.deadline = self.started + workload.duration
        self.ended: float | None = None
        self.issued = 0
        self.ok = 0
        self.latencies: list[float] = []  # seconds, successful requests
        self.ttfts: list[float] = []  # seconds, successful streams
        self.chunks = 0
        self.errors: Counter[str] = Counter()
        #: Seconds since the start at which each request finished (ok or not): the rate over time.
        self.finished_at: list[float] = []

    def start(self) -> None:
        """Start the clock (after connections are set up)."""
        self.started = time.perf_counter()
        self.deadline = self.started + self.workload.duration

    def take(self) -> bool:
        """Whether one more request may be sent now (and count it as sent)."""
        limit = self.workload.requests
        if limit is not None:
            if self.issued >= limit:
                return False
        elif time.perf_counter() >= self.deadline:
            return False
        self.issued += 1
        return True

    def success(self, latency: float, ttft: float | None, chunks: int) -> None:
        """One request answered completely."""
        self.ok += 1
        self.latencies.append(latency)
        if ttft is not None:
            self.ttfts.append(ttft)
        self.chunks += chunks
        self.finished_at.append(time.perf_counter() - self.started)

    def failure(self, kind: str) -> None:
        """One request that did not succeed, by kind."""
        self.errors[kind] += 1
        self.finished_at.append(time.perf_counter() - self.started)

    @property
    def finished(self) -> int:
        """Requests answered so far, successfully or not."""
        return self.ok + sum(self.errors.values())

    @property
    def elapsed(self) -> float:
        """Seconds from the start to the end of the run (or to now while it runs)."""
        return (self.ended or time.perf_counter()) - self.started


async def drive(workload: Workload, endpoints: Endpoints, recorder: Recorder) -> None:
    """Run `workload` on its surface until its budget is spent and every request answered."""
    import aiohttp

    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    if workload.surface == "ws":
        if not endpoints.ws_url:
            raise ValueError("this target has no Universal WebSocket URL (the ws surface needs an aigw gateway)")
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await _drive_ws(session, workload, endpoints, recorder)
    elif workload.surface in ("http", "http-new"):
        if not endpoints.http_url:
            raise ValueError("this target has no chat completions URL")
        connector = aiohttp.TCPConnector(
            limit=workload.concurrency, force_close=workload.surface == "http-new", ssl=endpoints.ssl_context or True
        )
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await _drive_http(session, workload, endpoints, recorder)
    else:
        raise ValueError(f"unknown surface {workload.surface!r} (ws, http, http-new)")
    recorder.ended = time.perf_counter()


# ---- ws: one multiplexed Universal WebSocket ---------------------------------------------------


async def _drive_ws(session: Any, workload: Workload, endpoints: Endpoints, rec: Recorder) -> None:
    import aiohttp

    ws = await session.ws_connect(
        endpoints.ws_url, headers=endpoints.headers, ssl=endpoints.ssl_context or True, max_msg_size=0, compress=0
    )
    # The message is built by splicing the eventId into pre-serialized text: the client's own
    # cost per request stays small next to the gateway's.
    step = orjson.dumps(
        {"provider": workload.provider, "endpoint": "chat/completions", "headers": {}, "query": request_body(workload)}
    ).decode()
    head, tail = '{"type":"universal.create","request":{"eventId":"', '",' + step[1:] + "}"
    pending: dict[str, list[Any]] = {}  # eventId -> [sent at, first chunk at, chunks]
    seq = 0

    async def send_next() -> None:
        nonlocal seq
        if rec.take():
            seq += 1
            eid = str(seq)
            pending[eid] = [time.perf_counter(), None, 0]
            await ws.send_str(head + eid + tail)

    def end(eid: str, error: str | None) -> None:
        entry = pending.pop(eid, None)
        if entry is None:
            return
        now = time.perf_counter()
        if error is None:
            ttft = entry[1] - entry[0] if entry[1] is not None else None
            rec.success(now - entry[0], ttft, entry[2])
        else:
            rec.failure(error)

    try:
        rec.start()
        for _ in range(workload.concurrency):
            await send_next()
        while pending:
            msg = await ws.receive()
            if msg.type != aiohttp.WSMsgType.TEXT:
                raise ConnectionError(f"the WebSocket closed ({msg.type.name} {ws.close_code})")
            doc = orjson.loads(msg.data)
            kind = doc.get("type")
            meta = doc.get("metadata") or {}
            eid = str(meta.get("eventId"))
            entry = pending.get(eid)
            if entry is None:
                continue
            if kind == "universal.stream":
                if entry[1] is None:
                    entry[1] = time.perf_counter()
                entry[2] += 1
                continue
            if kind == "universal.created":
                status = meta.get("status", 200)
                if isinstance(status, int) and status >= 400:
                    end(eid, f"status {status}")
                elif "response" in doc:  # a whole answer
                    end(eid, None)
                else:
                    continue  # a stream begins
            elif kind == "universal.done":
                error = meta.get("error")
                if meta.get("cancelled"):
                    end(eid, "cancelled")
                elif error:
                    end(eid, f"stream error {error.get('code')}")
                else:
                    end(eid, None)
            elif kind == "universal.error":
                end(eid, f"universal.error {(doc.get('error') or {}).get('code')}")
            else:
                continue
            await send_next()
    except (aiohttp.ClientError, ConnectionError, OSError) as exc:
        for _ in list(pending):
            rec.failure(f"connection: {exc.__class__.__name__}")
        pending.clear()
    finally:
        await ws.close()


# ---- http / http-new: one request per connection use --------------------------------------------


async def _drive_http(session: Any, workload: Workload, endpoints: Endpoints, rec: Recorder) -> None:
    body = orjson.dumps(request_body(workload))
    headers = {"content-type": "application/json", **endpoints.headers}
    url = endpoints.http_url

    async def one() -> None:
        sent = time.perf_counter()
        first: float | None = None
        chunks = 0
        try:
            async with session.post(url, data=body, headers=headers) as resp:
                if resp.status >= 400:
                    await resp.read()
                    rec.failure(f"status {resp.status}")
                    return
                if not workload.stream:
                    await resp.read()
                    rec.success(time.perf_counter() - sent, None, 0)
                    return
                done = False
                async for line in resp.content:
                    if not line.startswith(b"data:"):
                        continue
                    if line[5:].strip() == b"[DONE]":
                        done = True
                        continue
                    if first is None:
                        first = time.perf_counter()
                    chunks += 1
                if not done:
                    rec.failure("incomplete stream")
                    return
                rec.success(time.perf_counter() - sent, None if first is None else first - sent, chunks)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a connection refused/reset is a result, not a crash
            rec.failure(f"connection: {exc.__class__.__name__}")

    async def worker() -> None:
        while rec.take():
            await one()

    rec.start()
    await asyncio.gather(*(worker() for _ in range(workload.concurrency)))
