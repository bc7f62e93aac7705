"""Shared parts of the HTTP door tests: clients pointed at a running gateway, and waiting."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

import aiohttp


async def eventually(predicate, timeout: float = 5.0) -> None:
    """Wait until `predicate()` is true (AssertionError after `timeout` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s")
        await asyncio.sleep(0.01)


def openai_client(gw, base: str = "/openai", *, api_key: str = "sk-dummy", **kw: Any):
    """An AsyncOpenAI client on a provider route of `gw` (no retries: the tests count requests)."""
    import openai

    return openai.AsyncOpenAI(base_url=gw.http_url + base, api_key=api_key, default_headers=gw.headers, max_retries=0, **kw)


def anthropic_client(gw, *, api_key: str, **kw: Any):
    """An AsyncAnthropic client on `gw`'s anthropic route (no retries)."""
    import anthropic

    return anthropic.AsyncAnthropic(base_url=gw.http_url + "/anthropic", api_key=api_key, default_headers=gw.headers, max_retries=0, **kw)


def session() -> aiohttp.ClientSession:
    """A plain HTTP client session (no automatic decompression surprises, short timeouts)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20))


def chat(prompt: str = "hello there", model: str = "gpt-4o-mini", **fields: Any) -> dict[str, Any]:
    """An OpenAI chat completions body."""
    return {"model": model, "messages": [{"role": "user", "content": prompt}], **fields}


def log_rows(gw) -> list[dict[str, Any]]:
    """The gateway's SQLite log rows (complete once the gateway stopped), oldest first."""
    db = sqlite3.connect(gw.log_db)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM logs ORDER BY log_id")]
    finally:
        db.close()


def sse_data(body: bytes) -> list[bytes]:
    """The `data:` payloads of an SSE body, in order."""
    out = []
    for line in body.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data:"):
            out.append(line[5:].strip())
    return out


async def exchange(port: int, request: bytes) -> bytes:
    """`request` written on a new connection; the whole response read back (Content-Length)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"\r\ncontent-length: (\d+)", head).group(1))
        return head + await reader.readexactly(length)
    finally:
        writer.close()


def without_ids(response: bytes) -> bytes:
    """`response` with its ids (and the upstream's clock) blanked: they differ per request."""
    return re.sub(rb"(cf-aig-(?:log|event)-id|date): [^\r]*", rb"\1: X", response)


class Records:
    """An observer (`gateway.add_observer`) keeping every finished request's log record."""

    def __init__(self) -> None:
        self.records = []

    def observe(self, record) -> None:
        self.records.append(record)


#: The log record fields `record_outcome` compares (not its ids and timings).
RECORD_FIELDS = (
    "gateway", "request_type", "provider", "model", "endpoint", "status", "success", "step", "cache_status", "stream",
    "cancelled", "tokens_in", "tokens_out", "metadata", "error", "request_content_type", "response_content_type",
    "request_body", "response_body", "request_body_size", "response_body_size", "session", "cost", "custom_cost",
    "principal", "trace_id", "parent_span_id",
)


def record_outcome(record) -> dict:
    """A log record's fields but its ids and timings."""
    outcome = {f: getattr(record, f) for f in RECORD_FIELDS}
    outcome["attempts"] = [(a.step, a.attempt, a.status, a.error) for a in record.attempts]
    return outcome


async def compare_doors(sims, upstream, calls: list, request_for, *, warm: bool = True, **config) -> list[tuple]:
    """The native door's and the Python door's results for one request (`request_for(gw)`'s
    bytes) to a gateway serving `sims` with `config`: [native, python], each (len(calls) — a
    list the test's patched Python door appends to —, the last request `upstream` saw or None,
    the response without its ids, the log records' outcomes). With `warm`, the request is
    sent once first on each path (the router caches a route when it first resolves a path)."""
    from aigw.testing.gateway import running_gateway

    records = Records()
    async with running_gateway(sims, record_requests=False, **config) as gw:
        gw.gateway.add_observer(records)
        app = gw.gateway.server.app
        results = []
        for path in ("native", "python"):
            if path == "python":
                app.http = app._dispatch
            if warm:
                await exchange(gw.port, request_for(gw))
            calls.clear()
            records.records.clear()
            upstream.seen.clear()
            response = await exchange(gw.port, request_for(gw))
            if upstream.seen:  # the record reaches the observers after the answer
                await eventually(lambda: records.records)
            seen = upstream.seen[-1] if upstream.seen else None
            results.append((len(calls), seen, without_ids(response), [record_outcome(r) for r in records.records]))
    return results
