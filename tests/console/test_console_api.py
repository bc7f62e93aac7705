"""The console's routes over real sockets: off by default, page public, data behind the token,
rows pushed over the live WebSocket, a request's detail, the charts' time series."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
import websockets

from aigw.testing.gateway import running_gateway
from aigw.testing.simulators import Simulators

pytestmark = pytest.mark.timeout(30)


def http_base(gw) -> str:
    return f"http://127.0.0.1:{gw.port}"


async def one_request(gw, event_id: str = "e1") -> dict:
    async with websockets.connect(gw.url, additional_headers=gw.headers) as ws:
        await ws.send(json.dumps({"type": "universal.create", "request": {
            "eventId": event_id, "provider": "openai", "endpoint": "chat/completions", "headers": {},
            "query": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello console"}]}}}))
        return json.loads(await ws.recv())


@pytest.fixture
async def console_gw():
    async with Simulators("openai") as sims, running_gateway(sims, console={"enabled": True}) as gw:
        yield gw


async def test_console_is_off_unless_enabled():
    async with Simulators("openai") as sims, running_gateway(sims) as gw:
        async with aiohttp.ClientSession() as s, s.get(http_base(gw) + "/ui") as resp:
            assert resp.status == 404


async def test_page_is_public_with_a_strict_content_security_policy(console_gw):
    async with aiohttp.ClientSession() as s:
        async with s.get(http_base(console_gw) + "/ui") as resp:
            assert resp.status == 200 and resp.content_type == "text/html"
            assert "script-src 'self'" in resp.headers["content-security-policy"]
            assert 'src="/ui/static/app.js"' in await resp.text()
        async with s.get(http_base(console_gw) + "/ui/static/app.js") as resp:
            assert resp.status == 200 and resp.content_type == "text/javascript"
        async with s.get(http_base(console_gw) + "/ui/static/nope.js") as resp:
            assert resp.status == 404


async def test_data_needs_a_token(console_gw):
    async with aiohttp.ClientSession() as s:
        async with s.get(http_base(console_gw) + "/ui/api/logs") as resp:
            assert resp.status == 401
        async with s.get(http_base(console_gw) + "/ui/api/info", headers=console_gw.headers) as resp:
            assert resp.status == 200 and (await resp.json())["providers"] == ["openai"]


async def test_live_websocket_pushes_a_new_row_and_the_detail_has_bodies_and_attempts(console_gw):
    gw = console_gw
    offered = [f"cf-aig-authorization.{gw.token}", "aigw.console.v1"]
    async with websockets.connect(f"ws://127.0.0.1:{gw.port}/ui/api/live", subprotocols=offered) as live:
        assert live.subprotocol == "aigw.console.v1"  # never the token
        assert json.loads(await live.recv())["type"] == "ready"
        answer = await one_request(gw)
        msg = json.loads(await asyncio.wait_for(live.recv(), 5))
    assert msg["type"] == "logs"
    [row] = msg["rows"]
    assert (row["provider"], row["model"], row["status"], row["event_id"]) == ("openai", "gpt-4o-mini", 200, "e1")
    assert row["id"] == answer["metadata"]["logId"]
    async with aiohttp.ClientSession(headers=gw.headers) as s:
        async with s.get(f"{http_base(gw)}/ui/api/logs/{row['id']}") as resp:
            detail = await resp.json()
        async with s.get(f"{http_base(gw)}/ui/api/logs/0190aaaa-0000-7000-8000-000000000000") as resp:
            assert resp.status == 404
    assert "hello console" in detail["request_body"]["text"]
    assert detail["response_body"]["json"] is True
    assert [(a["provider"], a["status"]) for a in detail["attempts"]] == [("openai", 200)]
    assert detail["tokens_in"] and detail["tokens_out"]


async def test_live_websocket_refuses_a_bad_token(console_gw):
    with pytest.raises(websockets.InvalidStatus) as info:
        async with websockets.connect(f"ws://127.0.0.1:{console_gw.port}/ui/api/live",
                                      subprotocols=["cf-aig-authorization.wrong", "aigw.console.v1"]):
            pass
    assert info.value.response.status_code == 401


async def test_stats_count_requests_per_provider_and_model(console_gw):
    gw = console_gw
    await one_request(gw, "a")
    await one_request(gw, "b")
    await gw.gateway.log_store.flush()
    async with aiohttp.ClientSession(headers=gw.headers) as s:
        async with s.get(f"{http_base(gw)}/ui/api/stats?window=600&bucket=60") as resp:
            data = await resp.json()
        async with s.get(f"{http_base(gw)}/ui/api/stats?window=600&bucket=1") as resp:
            assert resp.status == 400  # 600 buckets is over the limit
    series = data["series"]["openai/gpt-4o-mini"]
    assert sum(series["requests"]) == 2 and sum(series["errors"]) == 0
    assert sum(series["tokens"]) > 0 and max(series["latency_ms"]) > 0
    priced = sum(r.cost or 0.0 for r in gw.records)  # gpt-4o-mini is in the shipped price table
    assert priced > 0 and abs(sum(series["cost"]) - priced) < 1e-12
