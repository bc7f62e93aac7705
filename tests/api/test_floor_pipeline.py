"""The floor experiment's stand-in pipeline (benches/throughput/floor_pipeline) still runs on
today's request path: it reaches into the runtime, the upstream client, the record maker and the
sinks, and a drifted interface would make the floor it measures silently wrong."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import aiohttp
import orjson
import pytest
from universal_ws_helpers import connect, create, step

from aigw.api import http_routes, universal_ws

FLOOR = Path(__file__).resolve().parents[2] / "benches" / "throughput" / "floor_pipeline" / "floor.py"


@pytest.fixture(params=["1", "min"])
def floor(request, monkeypatch):
    """The floor's `floor_run` in place of the pipeline's `run`, as AIGW_FLOOR=1 puts it at
    start-up (with AIGW_FLOOR=min, its bare upstream exchange in place of the gateway's client
    too); the real `run`s come back after the test."""
    monkeypatch.setenv("AIGW_FLOOR", request.param)
    monkeypatch.setattr(universal_ws, "run", universal_ws.run)
    monkeypatch.setattr(http_routes, "run", http_routes.run)
    spec = importlib.util.spec_from_file_location("aigw_floor", FLOOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert universal_ws.run is module.floor_run and http_routes.run is module.floor_run
    return module


async def test_the_floor_answers_a_websocket_request_with_the_providers_body(gateway, sims, floor):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "the quick brown fox", event_id="e1")))
        msg = orjson.loads(await asyncio.wait_for(ws.recv(), 10))
        bare = bool(floor._bare)
        floor.close_bare()
    assert msg["type"] == "universal.created"
    assert msg["metadata"]["eventId"] == "e1" and msg["metadata"]["status"] == 200
    assert msg["response"]["object"] == "chat.completion"
    assert gw.records[-1].status == 200  # the record the metrics count requests by
    assert bare == floor._minimal  # AIGW_FLOOR=min went through its bare connection


async def test_the_floor_answers_a_provider_route_request(gateway, sims, floor):
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]}
    async with gateway() as gw, aiohttp.ClientSession() as http:
        async with http.post(f"{gw.http_url}/openai/chat/completions", json=body, headers=gw.headers) as resp:
            status, answer = resp.status, await resp.json()
        bare = bool(floor._bare)
        floor.close_bare()
    assert status == 200 and answer["object"] == "chat.completion"
    assert bare == floor._minimal
