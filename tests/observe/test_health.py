"""`GET /health` (issue 13, item 6): still `{"status": "ok"}` while serving, now with each
logger's backlog and the loaded plugins; "draining" (503) once a graceful stop began."""

from __future__ import annotations

import asyncio

import aiohttp
from observe_helpers import http_base, send
from universal_ws_helpers import connect, create, step

from aigw.gateway import health_report


async def test_health_reports_ok_with_the_log_backlog_and_plugins(gateway, sims):
    async with gateway() as gw:
        await send(gw, step("openai", "x"))
        async with aiohttp.ClientSession() as session, session.get(http_base(gw) + "/health") as resp:
            status, body = resp.status, await resp.json()
    assert status == 200 and body["status"] == "ok" and body["draining"] is False
    assert set(body["logs"]["sqlite"]) == {"backlog", "dropped", "failed"} and body["logs"]["sqlite"]["dropped"] == 0
    assert "aigw.builtins.sqlite_logs" in body["plugins"]


async def test_health_says_draining_while_a_graceful_stop_waits_for_a_request(gateway, sims):
    sims["openai"].latency = 0.5
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "slow", event_id="slow")))
        await asyncio.sleep(0.1)  # the request is upstream now
        stopping = asyncio.create_task(gw.gateway.stop(grace=5))
        await asyncio.sleep(0.1)
        during = health_report(gw.gateway)
        await stopping
    assert during == (503, {**during[1], "status": "draining", "draining": True})
    assert health_report(gw.gateway)[1]["draining"] is False
