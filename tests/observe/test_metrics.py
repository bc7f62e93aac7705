"""Prometheus `/metrics` (issue 13, items 1 and 2): every finished request is counted, logged
or not, with its tokens, retries and fallbacks; what is read at scrape time (upstream pools,
log backlog, open WebSockets, process) is there; the route is behind gateway auth, or on a
listener of its own without it."""

from __future__ import annotations

import aiohttp
from observe_helpers import http_base, scrape, send, total
from universal_ws_helpers import connect, step


async def known_traffic(gw) -> None:
    """Two whole answers, a stream, a stream that breaks, a fallback, an unlogged request."""
    await send(gw, step("openai", "one two three"))
    await send(gw, step("openai", "four five"))
    await send(gw, step("openai", "a streamed answer", stream=True))
    await send(gw, step("openai", "this one breaks", stream=True, model="sim-fault-reset-after-2"))
    await send(gw, [step("openai", "x y", model="sim-fail-500"), step("anthropic", "x y")])
    await send(gw, step("openai", "not logged", headers={"cf-aig-collect-log": "false"}))


async def test_metrics_count_every_request_with_its_tokens(gateway, sims):
    async with gateway() as gw:
        await known_traffic(gw)
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    records = gw.records
    assert len(records) == 6
    assert total(samples, "aigw_requests_total", surface="websocket") == 6
    assert total(samples, "aigw_requests_total", provider="openai", status="200", success="true") == 4
    assert total(samples, "aigw_requests_total", provider="anthropic", status="200", success="true") == 1
    tokens_in = sum(r.tokens_in or 0 for r in records)
    tokens_out = sum(r.tokens_out or 0 for r in records)
    assert tokens_in > 0 and tokens_out > 0
    assert total(samples, "aigw_tokens_total", type="input") == tokens_in
    assert total(samples, "aigw_tokens_total", type="output") == tokens_out
    assert total(samples, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == tokens_out
    assert total(samples, "gen_ai_server_request_duration_seconds_count") == 6


async def test_a_stream_that_broke_is_counted_as_a_failure(gateway, sims):
    async with gateway() as gw:
        await send(gw, step("openai", "this one breaks", stream=True, model="sim-fault-reset-after-2"))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    assert total(samples, "aigw_requests_total", model="sim-fault-reset-after-2", status="200", success="false") == 1
    assert total(samples, "aigw_requests_total", success="true") == 0


async def test_a_fallback_and_its_retries_are_counted(gateway, sims):
    retried = {"maxAttempts": 2}
    async with gateway() as gw:
        await send(gw, [step("openai", "x y", model="sim-fail-500", config=retried), step("anthropic", "x y")])
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    assert total(samples, "aigw_fallbacks_total", provider="anthropic") == 1
    assert total(samples, "aigw_retries_total", provider="anthropic") == 1


async def test_a_request_that_is_not_logged_is_still_counted(gateway, sims):
    async with gateway() as gw:
        await send(gw, step("openai", "not logged", headers={"cf-aig-collect-log": "false"}))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    assert total(samples, "aigw_requests_total", provider="openai") == 1


async def test_a_streamed_request_has_a_time_to_first_token(gateway, sims):
    async with gateway() as gw:
        await send(gw, step("openai", "a streamed answer", stream=True))
        await send(gw, step("openai", "a whole answer"))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    assert total(samples, "gen_ai_server_time_to_first_token_seconds_count") == 1


async def test_rate_limit_refusals_are_counted(gateway, sims):
    async with gateway(gateways={"default": {"rate_limit": {"limit": 1, "interval": 60}}}) as gw:
        await send(gw, step("openai", "first"))
        (refused,) = await send(gw, step("openai", "second"))
        samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    assert refused["metadata"]["status"] == 429
    assert total(samples, "aigw_rate_limited_total", gateway="default", surface="websocket") == 1


async def test_scrape_time_gauges_show_pools_connections_and_the_process(gateway, sims):
    async with gateway() as gw:
        await send(gw, step("openai", "warm the pool"))
        async with connect(gw):  # one WebSocket held open during the scrape
            samples = await scrape(http_base(gw) + "/metrics", gw.headers)
    origin = sims["openai"].base_url().removesuffix("/v1")
    assert total(samples, "aigw_upstream_connections", origin=origin) == 1  # kept alive, idle
    assert total(samples, "aigw_upstream_connections", origin=origin, state="idle") == 1
    assert total(samples, "aigw_upstream_waiting_requests", origin=origin) == 0
    assert total(samples, "aigw_websocket_connections") == 1
    assert [s.labels for s in samples["aigw_log_backlog_records"]] == [{"logger": "sqlite"}]
    assert total(samples, "process_resident_memory_bytes") > 0


async def test_metrics_on_the_main_port_need_a_gateway_token(gateway, sims):
    async with gateway() as gw, aiohttp.ClientSession() as session:
        async with session.get(http_base(gw) + "/metrics") as resp:
            assert resp.status == 401


async def test_a_separate_metrics_listener_needs_no_token_and_the_main_port_has_no_route(gateway, sims):
    async with gateway(metrics={"listen": "127.0.0.1:0"}) as gw:
        await send(gw, step("openai", "counted"))
        samples = await scrape(f"http://127.0.0.1:{gw.gateway.metrics_server.port}/metrics")
        async with aiohttp.ClientSession() as session, session.get(http_base(gw) + "/metrics", headers=gw.headers) as resp:
            assert resp.status == 404
    assert total(samples, "aigw_requests_total", provider="openai") == 1
