"""Helpers of the provider tests: one Universal step over a real WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import websockets


def _final(msg: dict) -> bool:
    """A `universal.done`/`error`, or a `universal.created` that carries the whole answer
    (a streamed answer's `created` has no `response`)."""
    kind = msg.get("type")
    return kind in ("universal.done", "universal.error") or (kind == "universal.created" and "response" in msg)


async def ask(gw: Any, provider: str, endpoint: str, query: Any, *, headers: dict | None = None, config: dict | None = None) -> list[dict]:
    """Send one Universal step over a WebSocket to `gw`; every message of its answer."""
    step: dict[str, Any] = {"provider": provider, "endpoint": endpoint, "headers": headers or {}, "query": query}
    if config:
        step["config"] = config
    message = orjson.dumps({"type": "universal.create", "request": {**step, "eventId": "e1"}})
    async with websockets.connect(gw.url, additional_headers=gw.headers, max_size=None) as ws:
        await ws.send(message.decode())
        out: list[dict] = []
        while not out or not _final(out[-1]):
            out.append(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))
    return out
