"""The pipeline's step loop: what is retried, what falls back, what the client is answered.
A scripted upstream client (no sockets) and a recording sink; the providers are the real ones."""

from __future__ import annotations

import time

import pytest
from pipeline_fakes import (
    FakeClient,
    Reply,
    anthropic_step,
    openai_body,
    openai_step,
    refused,
    reset,
    runtime,
    send,
)

from aigw.pipeline import GatewayPolicy
from aigw.upstream.errors import UpstreamProtocolError

OK = Reply(200, openai_body("fine"))
ANTHROPIC_OK = Reply(200, b'{"type":"message","usage":{"input_tokens":7,"output_tokens":11}}')


@pytest.mark.parametrize(
    "broken",
    [
        reset(),
        UpstreamProtocolError("invalid chunked body: bad chunk size"),
        reset("mid-body: 10 of 50 bytes"),
        UpstreamProtocolError("response body exceeds 67108864 bytes"),
        UpstreamProtocolError("invalid compressed body: incorrect header check"),
    ],
    ids=["reset", "bad-chunk-size", "short-body", "over-the-limit", "bad-gzip"],
)
async def test_a_body_that_breaks_off_falls_back_to_the_next_step(broken):
    client = FakeClient(openai=[Reply(200, broken=broken)], anthropic=[ANTHROPIC_OK])
    sink, record = await send(runtime(client), openai_step(), anthropic_step())
    assert sink.delivered is not None and sink.delivered[0].step == 1
    assert record.success and record.status == 200 and record.step == 1
    assert client.hosts() == ["openai", "anthropic"]


async def test_a_body_that_breaks_off_on_every_step_is_a_502_with_code_2005():
    client = FakeClient(openai=[Reply(200, broken=reset())], anthropic=[Reply(200, broken=reset())])
    sink, record = await send(runtime(client), openai_step(), anthropic_step())
    assert sink.failed is not None
    answer, error = sink.failed
    assert answer.status == 502 and error.code == 2005 and "broke off" in error.message
    assert not record.success and record.status == 502 and "reset by peer" in record.error


async def test_a_body_that_breaks_off_is_retried_on_the_same_step():
    client = FakeClient(openai=[Reply(200, broken=reset()), OK])
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 2}))
    assert sink.delivered is not None and sink.delivered[1] == OK.body
    assert client.hosts() == ["openai", "openai"] and record.success


async def test_a_connection_failure_falls_back():
    client = FakeClient(openai=[Reply(raise_on_request=refused())], anthropic=[ANTHROPIC_OK])
    sink, record = await send(runtime(client), openai_step(), anthropic_step())
    assert sink.delivered[0].step == 1 and record.success


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
async def test_a_client_side_error_answer_is_never_retried_but_falls_back(status):
    # x-should-retry asks for a retry: the request itself is at fault, so it is not repeated.
    bad = Reply(status, b'{"error":{"message":"context_length_exceeded"}}', headers={"x-should-retry": "true"})
    client = FakeClient(openai=[bad], anthropic=[ANTHROPIC_OK])
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 3}), anthropic_step())
    assert client.hosts() == ["openai", "anthropic"]
    assert sink.delivered[0].step == 1 and record.success


async def test_a_lone_client_side_error_answer_is_relayed_once():
    client = FakeClient(openai=[Reply(400, b'{"error":{"message":"context_length_exceeded"}}')])
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 3}))
    assert client.hosts() == ["openai"]
    assert sink.delivered[0].status == 400 and not record.success


async def test_a_server_error_answer_is_retried():
    client = FakeClient(openai=[Reply(503, b"{}"), OK])
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 2}))
    assert client.hosts() == ["openai", "openai"] and record.success


async def test_retry_after_is_waited_for_before_the_retry():
    client = FakeClient(openai=[Reply(429, b"{}", headers={"retry-after": "0.3"}), OK])
    started = time.monotonic()
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 2}))
    assert time.monotonic() - started >= 0.3
    assert record.success and client.hosts() == ["openai", "openai"]


async def test_a_retry_after_longer_than_the_cap_falls_back_at_once():
    client = FakeClient(openai=[Reply(429, b"{}", headers={"retry-after": "3600"})], anthropic=[ANTHROPIC_OK])
    started = time.monotonic()
    sink, record = await send(runtime(client), openai_step(config={"maxAttempts": 3}), anthropic_step())
    assert time.monotonic() - started < 1.0
    assert client.hosts() == ["openai", "anthropic"] and record.success


async def test_more_steps_than_the_gateway_allows_are_refused_with_2010_naming_the_limit():
    client = FakeClient(openai=[OK])
    sink, record = await send(runtime(client), *[openai_step()] * 11)
    answer, error = sink.failed
    assert answer.status == 400 and error.code == 2010 and "at most 10 steps" in error.message
    assert client.requests == []


async def test_the_step_cap_is_a_gateway_setting():
    client = FakeClient(openai=[Reply(500, b"{}")])
    sink, record = await send(runtime(client), *[openai_step()] * 3, gw=GatewayPolicy("default", max_steps=2))
    assert sink.failed[1].code == 2010 and "at most 2 steps" in sink.failed[1].message
    assert client.requests == []


async def test_every_response_is_closed_so_its_connection_is_released():
    client = FakeClient(openai=[Reply(500, b"{}"), Reply(200, broken=reset())], anthropic=[ANTHROPIC_OK])
    await send(runtime(client), openai_step(config={"maxAttempts": 2}), anthropic_step())
    assert len(client.responses) == 3 and all(r.closed for r in client.responses)
