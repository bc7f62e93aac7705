"""Realtime sessions are observed like requests (issue 13 item 1): their record goes to the
gateway's observers, so it is priced and counted in /metrics with its tokens, logged or not;
the upgrade's cf-aig-custom-cost sets its prices."""

from __future__ import annotations

import json

import aiohttp
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from test_realtime_openai import MODEL, run_text_turn, wait_for
from websockets.exceptions import InvalidStatus

# USD per million tokens for the simulator's model (the shipped table has no realtime price).
PRICES = {f"openai/{MODEL}": {"input": 4.0, "output": 16.0}}


async def scrape(gw) -> list:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.port}/metrics", headers=gw.headers) as resp:
            assert resp.status == 200
            text = await resp.text()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def total(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def two_turns(gw, headers: dict[str, str] | None = None) -> None:
    async with websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers={**gw.headers, **(headers or {})}) as ws:
        await ws.recv()
        await run_text_turn(ws, "one two three")
        await run_text_turn(ws, "four five")
    await wait_for(lambda: gw.records)


async def test_a_realtime_session_is_counted_in_metrics_with_its_tokens_and_cost(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim, costs={"models": PRICES}) as gw:
        await two_turns(gw)
        samples = await scrape(gw)
    [record] = gw.records
    assert (record.tokens_in, record.tokens_out) == (8, 5)
    assert record.cost == pytest.approx((8 * 4.0 + 5 * 16.0) / 1e6)
    session = {"surface": "realtime", "provider": "openai", "model": MODEL}
    assert total(samples, "aigw_requests_total", status="101", success="true", **session) == 1
    assert total(samples, "aigw_tokens_total", type="input", **session) == 8
    assert total(samples, "aigw_tokens_total", type="output", **session) == 5
    assert total(samples, "aigw_cost_usd_total", **session) == pytest.approx(record.cost)


async def test_a_realtime_session_that_is_not_logged_is_still_counted(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        await two_turns(gw, {"cf-aig-collect-log": "false"})
        samples = await scrape(gw)
    assert total(samples, "aigw_requests_total", surface="realtime", success="true") == 1
    assert total(samples, "aigw_tokens_total", surface="realtime", type="output") == 5


async def test_the_upgrades_custom_cost_prices_the_session(realtime_gateway, openai_sim):
    custom = json.dumps({"per_token_in": 0.001, "per_token_out": 0.002})
    async with realtime_gateway(openai=openai_sim) as gw:
        await two_turns(gw, {"cf-aig-custom-cost": custom})
    [record] = gw.records
    assert record.custom_cost == (0.001, 0.002)
    assert record.cost == pytest.approx(8 * 0.001 + 5 * 0.002)


async def test_a_malformed_custom_cost_refuses_the_upgrade_with_400(realtime_gateway, openai_sim):
    async with realtime_gateway(openai=openai_sim) as gw:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/openai?model={MODEL}", additional_headers={**gw.headers, "cf-aig-custom-cost": "cheap"})
    assert refused.value.response.status_code == 400
    assert not openai_sim.connections  # refused before any upstream I/O
