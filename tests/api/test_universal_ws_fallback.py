"""Fallback chains and retries over the Universal WebSocket API (a `request` array of steps,
each with an optional `config`; cloudflare-aigw.md §3, websocket-api.md "Client → server")."""

from __future__ import annotations

from universal_ws_helpers import answer, connect, create, step


def error_of(msg: dict) -> dict:
    return msg["response"]["errors"][0]


async def test_a_failing_first_step_falls_back_to_the_second(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x y", model="sim-fail-500", event_id="f"), step("anthropic", "x y")]
        await ws.send(create(steps))
        (msg,) = await answer(ws)
    assert msg["metadata"]["step"] == "1" and msg["metadata"]["status"] == 200
    assert msg["metadata"]["eventId"] == "f"
    assert msg["response"]["type"] == "message"
    assert len(sims["openai"].requests) == 1 and len(sims["anthropic"].requests) == 1


async def test_a_streamed_fallback_answers_from_the_second_step(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x y", stream=True, model="sim-fail-500", event_id="f"), step("anthropic", "x y", stream=True)]
        await ws.send(create(steps))
        messages = await answer(ws)
    assert messages[0]["metadata"]["step"] == "1" and messages[-1]["type"] == "universal.done"
    assert messages[-1]["metadata"]["step"] == "1"


async def test_a_step_exceeding_its_request_timeout_falls_back(gateway, sims):
    sims["openai"].latency = 2.0
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x", config={"requestTimeout": 100}, event_id="t"), step("anthropic", "x")]
        await ws.send(create(steps))
        (msg,) = await answer(ws)
    assert msg["metadata"]["step"] == "1" and msg["metadata"]["status"] == 200


async def test_the_request_timeout_header_makes_a_slow_step_fall_back(gateway, sims):
    sims["openai"].latency = 2.0
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x", headers={"cf-aig-request-timeout": "100"}, event_id="t"), step("anthropic", "x")]
        await ws.send(create(steps))
        (msg,) = await answer(ws)
    assert msg["metadata"]["step"] == "1" and msg["metadata"]["status"] == 200


async def test_a_lone_step_that_times_out_is_a_gateway_timeout_error(gateway, sims):
    sims["openai"].latency = 2.0
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", config={"requestTimeout": 100}, event_id="t")))
        (msg,) = await answer(ws)
    assert msg["type"] == "universal.created" and msg["metadata"]["eventId"] == "t"
    assert msg["metadata"]["status"] == 504 and error_of(msg)["code"] == 2007


async def test_when_every_step_fails_the_last_upstream_error_is_relayed(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x", model="sim-fail-500", event_id="a"), step("anthropic", "x", model="sim-fail-503")]
        await ws.send(create(steps))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 503 and msg["metadata"]["step"] == "1" and msg["metadata"]["eventId"] == "a"
    assert msg["response"]["type"] == "error"  # Anthropic's own error body, unchanged


async def test_network_failure_on_every_step_is_gateway_error_2005_with_status_502(gateway, sims):
    dead = {"openai": {"base_url": "http://127.0.0.1:1/v1"}, "anthropic": {"base_url": "http://127.0.0.1:1"}}
    async with gateway(providers=dead) as gw, connect(gw) as ws:
        await ws.send(create([step("openai", "x", event_id="n"), step("anthropic", "x")]))
        (msg,) = await answer(ws)
    assert msg["type"] == "universal.created" and msg["metadata"]["eventId"] == "n"
    assert msg["metadata"]["status"] == 502 and error_of(msg)["code"] == 2005
    assert msg["response"]["success"] is False


async def test_retries_with_backoff_recover_from_two_failures(gateway, sims):
    sims["openai"].fail_next(500, 2)
    config = {"maxAttempts": 3, "retryDelay": 10, "backoff": "exponential"}
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", config=config, event_id="r")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200 and msg["metadata"]["step"] == "0"
    assert len(sims["openai"].requests) == 3


async def test_the_fail_twice_model_succeeds_on_the_third_attempt(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", model="sim-fail-500-x2", config={"maxAttempts": 3, "retryDelay": 5}, event_id="r")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200 and len(sims["openai"].requests) == 3


async def test_too_few_attempts_fall_back_to_the_next_step(gateway, sims):
    sims["openai"].fail_next(500, 2)
    async with gateway() as gw, connect(gw) as ws:
        steps = [step("openai", "x", config={"maxAttempts": 2}, event_id="r"), step("anthropic", "x")]
        await ws.send(create(steps))
        (msg,) = await answer(ws)
    assert msg["metadata"]["step"] == "1" and msg["metadata"]["status"] == 200
    assert len(sims["openai"].requests) == 2


async def test_too_few_attempts_without_fallback_relay_the_upstream_error(gateway, sims):
    sims["openai"].fail_next(500, 2)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", config={"maxAttempts": 2}, event_id="r")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 500 and "error" in msg["response"]
    assert len(sims["openai"].requests) == 2
