"""Costs (issue 13, item 3): every request is priced from its usage (the shipped table, the
config's prices, or the client's `cf-aig-custom-cost`), the cost is in the log row and in the
metrics, and a request whose price is unknown has no cost (null), never 0."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner
from observe_helpers import http_base, scrape, send, total
from universal_ws_helpers import step

from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.commands.logs import logs_command

#: USD per million tokens: 1 cent per input token, 2 cents per output token.
PRICED = {"models": {"openai/gpt-4o-mini": {"input": 10_000, "output": 20_000}}}


def usage_of(msg: dict) -> tuple[int, int]:
    u = msg["response"]["usage"]
    return u["prompt_tokens"], u["completion_tokens"]


async def test_cost_is_tokens_times_the_configured_price_in_the_log_and_the_metrics(gateway, sims):
    async with gateway(costs=PRICED) as gw:
        (a,) = await send(gw, step("openai", "one two three"))
        (b,) = await send(gw, step("openai", "four five six seven"))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
        await gw.stop()
    expected = [i * 0.01 + o * 0.02 for i, o in (usage_of(a), usage_of(b))]
    assert [round(r.cost, 2) for r in gw.records] == [round(c, 2) for c in expected]
    assert round(total(samples, "aigw_cost_usd_total", provider="openai"), 2) == round(sum(expected), 2)
    with SqliteLogReader(gw.log_db) as reader:
        stored = [reader.get(r.log_id) for r in gw.records]
    assert [round(s.cost, 2) for s in stored] == [round(c, 2) for c in expected]


async def test_a_shipped_price_prices_a_model_the_config_does_not_name(gateway, sims):
    async with gateway() as gw:
        (msg,) = await send(gw, [step("openai", "x y", model="sim-fail-500"), step("anthropic", "x y", model="claude-sonnet-4-5")])
    (record,) = gw.records
    u = msg["response"]["usage"]
    assert record.provider == "anthropic"  # the step that answered is the one paid for
    assert record.cost == pytest.approx(u["input_tokens"] * 3e-6 + u["output_tokens"] * 15e-6)


async def test_the_custom_cost_header_overrides_the_price(gateway, sims):
    custom = {"cf-aig-custom-cost": '{"per_token_in": 0.5, "per_token_out": 1}'}
    async with gateway(costs=PRICED) as gw:
        (msg,) = await send(gw, step("openai", "one two three", headers=custom))
        await gw.stop()
    i, o = usage_of(msg)
    (record,) = gw.records
    assert record.cost == pytest.approx(i * 0.5 + o * 1.0) and record.custom_cost == (0.5, 1.0)
    with SqliteLogReader(gw.log_db) as reader:
        assert reader.get(record.log_id).custom_cost == (0.5, 1.0)


async def test_a_malformed_custom_cost_is_a_bad_request(gateway, sims):
    async with gateway() as gw:
        (msg,) = await send(gw, step("openai", "x", headers={"cf-aig-custom-cost": '{"per_token_in": "cheap"}'}))
    assert msg["metadata"]["status"] == 400 and msg["response"]["errors"][0]["code"] == 2010
    assert len(sims["openai"].requests) == 0


async def test_an_unknown_model_has_no_cost_not_zero(gateway, sims):
    async with gateway(costs=PRICED) as gw:
        await send(gw, step("openai", "x y", model="a-model-nobody-priced"))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
        await gw.stop()
    (record,) = gw.records
    assert record.tokens_in and record.cost is None
    with SqliteLogReader(gw.log_db) as reader:
        assert reader.get(record.log_id).cost is None
    assert total(samples, "aigw_cost_usd_total") == 0


async def test_a_cache_hit_costs_nothing(gateway, sims):
    cached = {"cf-aig-cache-ttl": "60"}
    async with gateway(costs=PRICED) as gw:
        await send(gw, step("openai", "same question", headers=cached))
        await send(gw, step("openai", "same question", headers=cached))
    miss, hit = gw.records
    assert hit.cache_status == "HIT" and hit.cost == 0.0 and miss.cost > 0


async def test_aigw_logs_shows_the_cost_and_sums_it_by_model(gateway, sims):
    async with gateway(costs=PRICED) as gw:
        (a,) = await send(gw, step("openai", "one two three"))
        (b,) = await send(gw, step("openai", "four five"))
        await send(gw, step("openai", "x", model="a-model-nobody-priced"))
        await gw.stop()
    expected = sum(i * 0.01 + o * 0.02 for i, o in (usage_of(a), usage_of(b)))
    runner = CliRunner()  # the command runs its own loop: give it a thread
    listing = await asyncio.to_thread(runner.invoke, logs_command, ["--data-dir", str(gw.data_dir)])
    assert listing.exit_code == 0, listing.output
    assert "COST" in listing.output.splitlines()[0] and f"${gw.records[0].cost:.6f}" in listing.output
    summary = await asyncio.to_thread(runner.invoke, logs_command, ["--data-dir", str(gw.data_dir), "--summary", "--since", "1h"])
    assert summary.exit_code == 0, summary.output
    lines = {line.split()[1] if not line.startswith("total") else "total": line.split() for line in summary.output.splitlines()[1:]}
    assert lines["gpt-4o-mini"][2:4] == ["2", "0"] and lines["gpt-4o-mini"][6] == f"${expected:.6f}"
    assert lines["a-model-nobody-priced"][6:] == ["$0.000000", "1"]
    assert lines["total"][1] == "3"
