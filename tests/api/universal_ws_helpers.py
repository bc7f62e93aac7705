"""Helpers of the Universal WebSocket API end-to-end tests: request bodies and answer readers."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import websockets

SIM_ID = re.compile(rb"sim\d{6}")

# ---- request bodies ------------------------------------------------------------------------

#: provider → (endpoint, streamed endpoint)
ENDPOINTS = {
    "openai": "chat/completions",
    "anthropic": "v1/messages",
    "workers-ai": "@cf/meta/llama-3.1-8b-instruct",
    "google-ai-studio": "v1beta/models/gemini-2.5-flash:generateContent",
    "deepseek": "chat/completions",
    "groq": "chat/completions",
    "mistral": "chat/completions",
}


def step(provider: str, prompt: str = "hello there", *, stream: bool = False, model: str | None = None, headers=None, config=None, event_id=None) -> dict[str, Any]:
    """A Universal step in `provider`'s native body format."""
    endpoint = ENDPOINTS[provider]
    if provider == "anthropic":
        query: dict[str, Any] = {"model": model or "claude-sonnet-4-5", "max_tokens": 500, "messages": [{"role": "user", "content": prompt}]}
    elif provider == "google-ai-studio":
        query = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
        if model:
            endpoint = endpoint.replace("gemini-2.5-flash", model)
        if stream:
            endpoint = endpoint.replace(":generateContent", ":streamGenerateContent?alt=sse")
    elif provider == "workers-ai":
        query = {"messages": [{"role": "user", "content": prompt}]}
        if model:
            endpoint = "@cf/" + model
    else:
        query = {"model": model or "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]}
    if stream and provider != "google-ai-studio":
        query["stream"] = True
    if stream and provider == "openai":
        query["stream_options"] = {"include_usage": True}
    out: dict[str, Any] = {"provider": provider, "endpoint": endpoint, "headers": dict(headers or {}), "query": query}
    if config:
        out["config"] = config
    if event_id is not None:
        out["eventId"] = event_id
    return out


def create(request: Any) -> str:
    """A `universal.create` message (text)."""
    return orjson.dumps({"type": "universal.create", "request": request}).decode()


def chunk_text(chunk: Any) -> str:
    """The text of one streamed chunk, whatever the provider's shape."""
    if not isinstance(chunk, dict):
        return ""
    if chunk.get("choices"):
        return chunk["choices"][0].get("delta", {}).get("content") or ""
    if chunk.get("type") == "content_block_delta":
        return chunk["delta"].get("text", "")
    if "candidates" in chunk:
        return "".join(p.get("text", "") for p in chunk["candidates"][0]["content"]["parts"])
    if isinstance(chunk.get("response"), str):
        return chunk["response"]
    return ""


# ---- reading answers -----------------------------------------------------------------------


def is_final(msg: dict) -> bool:
    """Whether `msg` ends its request (a non-streamed created, a done, or an error)."""
    kind = msg.get("type")
    if kind in ("universal.done", "universal.error"):
        return True
    return kind == "universal.created" and msg.get("metadata", {}).get("contentType") != "text/event-stream"


async def recv(ws, timeout: float = 10.0) -> dict:
    """The next message, decoded."""
    return orjson.loads(await asyncio.wait_for(ws.recv(), timeout))


async def answers(ws, count: int = 1, timeout: float = 20.0) -> dict[str, list[dict]]:
    """Read until `count` requests have finished; every message grouped by eventId."""
    out: dict[str, list[dict]] = {}
    finished = 0

    async def read() -> None:
        nonlocal finished
        while finished < count:
            msg = orjson.loads(await ws.recv())
            out.setdefault(msg.get("metadata", {}).get("eventId"), []).append(msg)
            finished += is_final(msg)

    await asyncio.wait_for(read(), timeout)
    return out


async def answer(ws, timeout: float = 20.0) -> list[dict]:
    """Every message of the one request in flight, until it finishes."""
    got = await answers(ws, 1, timeout)
    assert len(got) == 1, got
    return next(iter(got.values()))


def connect(gw, path: str | None = None, **kw: Any):
    """`websockets.connect` to the gateway with its token in the header."""
    kw.setdefault("additional_headers", gw.headers)
    kw.setdefault("max_size", None)
    return websockets.connect(path or gw.url, **kw)


def comparable(messages: list[dict]) -> list[dict]:
    """`messages` with what differs between two runs of one request taken out (log id,
    timing, the simulator's completion id and time), to compare two ways of answering it."""
    for msg in messages:
        meta = msg.get("metadata", {})
        for key in ("logId", "duration", "ttfb"):
            meta.pop(key, None)
        if isinstance(msg.get("response"), dict):
            msg["response"].pop("id", None)
            msg["response"].pop("created", None)
    return messages


async def eventually(predicate, timeout: float = 5.0, interval: float = 0.01) -> None:
    """Wait until `predicate()` is true (a state reached asynchronously); fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not reached within {timeout}s")
        await asyncio.sleep(interval)


def sessions(gw) -> list[Any]:
    """The UniversalSession of every open WebSocket connection on the gateway."""
    return [c.handler for c in gw.gateway.server.connections if hasattr(c, "handler")] if gw.gateway.server else []


# ---- what the simulator sends, fetched directly ------------------------------------------


async def replay(sim, request) -> tuple[int, str, bytes]:
    """Send the request the gateway sent (`sim.requests[i]`) straight to the simulator again;
    returns (status, content type, body bytes) as the provider put them on the wire."""
    import aiohttp

    headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")}
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        async with http.request(request.method, sim.url + request.raw_path, headers=headers, data=request.body) as resp:
            return resp.status, resp.headers.get("content-type", ""), await resp.read()


def sse_data(body: bytes) -> list[bytes]:
    """The `data` payload of every SSE event (comments and [DONE] dropped; LF or CRLF)."""
    events = []
    for block in re.split(rb"\r?\n\r?\n", body.replace(b"\r\n", b"\n")):
        data = [line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")]
        if data:
            payload = b"\n".join(data)
            if payload.strip() != b"[DONE]":
                events.append(payload)
    return events


def same_ids(data: bytes) -> bytes:
    """`data` with the simulator's per-request ids (sim000042) made equal."""
    return SIM_ID.sub(b"sim000000", data)
