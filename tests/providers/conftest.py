"""Provider tests: adapters in isolation (no network), and each provider end to end through a
real gateway (Universal WebSocket API) against its wire-faithful simulator."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import websockets


@pytest.fixture
def sims(aigw_simulators):
    """The session's simulators, reset around the test, with short stream pacing."""
    for sim in aigw_simulators.values():
        sim.chunks, sim.chunk_delay = 3, 0.001
    return aigw_simulators


@pytest.fixture
def gateway(aigw_gateway_factory, sims):
    """`async with gateway(**config) as gw`: a gateway whose providers are the simulators and
    whose plugins are the built-ins only (whatever else is installed in the environment)."""

    def factory(**config):
        config.setdefault("plugins", {"enabled": []})
        return aigw_gateway_factory(**config)

    return factory


def _final(msg: dict) -> bool:
    kind = msg.get("type")
    if kind in ("universal.done", "universal.error"):
        return True
    return kind == "universal.created" and msg.get("metadata", {}).get("contentType") not in (
        "text/event-stream",
        "application/x-ndjson",
        "application/vnd.amazon.eventstream",
    )


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
