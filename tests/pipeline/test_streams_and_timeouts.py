"""Streams must never lie: a stream that breaks after it started ends with an error the client
sees and a failed log row; one that fails before its first byte is retried and failed over.
Plus the timeouts a step gets: first byte (streams have a default) and stream idle."""

from __future__ import annotations

import pytest
from pipeline_fakes import STALL, FakeClient, Pause, Reply, anthropic_step, openai_step, reset, runtime, send, sse

from aigw.errors import RequestTimeout
from aigw.options import RetryPolicy
from aigw.pipeline import GatewayPolicy, StreamFailed, StreamIdleTimeout

SSE = "text/event-stream"
DELTA = {"choices": [{"delta": {"content": "hi"}}]}


def stream(*items) -> Reply:
    return Reply(200, content_type=SSE, chunks=list(items))


ANTHROPIC_STREAM = stream(*sse({"type": "message_start"}, {"type": "message_stop"}))


async def test_a_stream_with_its_terminator_ends_cleanly():
    client = FakeClient(openai=[stream(*sse(DELTA, b"[DONE]"))])
    sink, record = await send(runtime(client), openai_step(stream=True))
    assert sink.ended is not None and sink.ended[2] is None
    assert record.success and record.error is None


async def test_a_stream_that_ends_without_its_terminator_ends_with_an_error():
    client = FakeClient(openai=[stream(*sse(DELTA, DELTA))])
    sink, record = await send(runtime(client), openai_step(stream=True))
    error = sink.ended[2]
    assert isinstance(error, StreamFailed) and error.code == 2005 and "[DONE]" in error.message
    assert not record.success and "[DONE]" in record.error


async def test_a_provider_without_a_terminator_may_just_end():
    client = FakeClient(anthropic=[ANTHROPIC_STREAM])
    sink, record = await send(runtime(client), anthropic_step(stream=True))
    assert sink.ended[2] is None and record.success


async def test_the_responses_api_stream_needs_no_done():
    client = FakeClient(openai=[stream(*sse({"type": "response.completed"}))])
    step = openai_step(stream=True)
    step.endpoint = "responses"
    sink, record = await send(runtime(client), step)
    assert sink.ended[2] is None and record.success


async def test_a_stream_reset_midway_ends_with_an_error_and_a_failed_log_row():
    client = FakeClient(openai=[stream(*sse(DELTA), reset())], anthropic=[ANTHROPIC_STREAM])
    sink, record = await send(runtime(client), openai_step(stream=True), anthropic_step(stream=True))
    error = sink.ended[2]
    assert isinstance(error, StreamFailed) and "reset by peer" in error.message
    assert client.hosts() == ["openai"]  # the client saw the first event: no fallback now
    assert not record.success and record.step == 0 and "reset by peer" in record.error


async def test_a_stream_that_goes_silent_fails_after_the_idle_timeout_header():
    client = FakeClient(openai=[stream(*sse(DELTA), STALL)])
    sink, record = await send(runtime(client), openai_step(stream=True, headers={"cf-aig-stream-idle-timeout": "100"}))
    error = sink.ended[2]
    assert isinstance(error, StreamIdleTimeout) and error.code == 2007 and "100 ms" in error.message
    assert not record.success and "100 ms" in record.error
    assert client.responses[0].closed


async def test_a_slow_stream_lasting_longer_than_the_idle_timeout_completes():
    # Each gap (30 ms) is under the idle timeout (100 ms); the whole stream (~300 ms) is not.
    deltas = [item for _ in range(10) for item in (Pause(0.03), *sse(DELTA))]
    client = FakeClient(openai=[stream(*deltas, *sse(b"[DONE]"))])
    sink, record = await send(runtime(client), openai_step(stream=True, headers={"cf-aig-stream-idle-timeout": "100"}))
    assert sink.ended[2] is None and record.success


async def test_the_idle_timeout_counts_from_the_last_chunk_not_the_first():
    # 60 ms, then 80 ms of silence: each under 100 ms, 140 ms after the first wait began.
    client = FakeClient(openai=[stream(*sse(DELTA), Pause(0.06), *sse(DELTA), Pause(0.08), *sse(DELTA), STALL)])
    sink, record = await send(runtime(client), openai_step(stream=True, headers={"cf-aig-stream-idle-timeout": "100"}))
    assert isinstance(sink.ended[2], StreamIdleTimeout)
    assert len(sink.relayed) == 3  # every chunk sent before the silence reached the client


async def test_the_idle_timeout_comes_from_step_config_too():
    client = FakeClient(openai=[stream(*sse(DELTA), STALL)])
    sink, record = await send(runtime(client), openai_step(stream=True, config={"streamIdleTimeout": 50}))
    assert isinstance(sink.ended[2], StreamIdleTimeout) and "50 ms" in sink.ended[2].message


async def test_the_idle_timeout_has_a_gateway_default():
    client = FakeClient(openai=[stream(*sse(DELTA), STALL)])
    gw = GatewayPolicy("default", retry=RetryPolicy(stream_idle_timeout_ms=80))
    sink, record = await send(runtime(client), openai_step(stream=True), gw=gw)
    assert isinstance(sink.ended[2], StreamIdleTimeout) and "80 ms" in sink.ended[2].message


async def test_a_stream_that_stalls_before_its_first_byte_falls_back():
    client = FakeClient(openai=[stream(STALL)], anthropic=[ANTHROPIC_STREAM])
    sink, record = await send(
        runtime(client), openai_step(stream=True, config={"streamIdleTimeout": 50}), anthropic_step(stream=True)
    )
    assert sink.started.step == 1 and sink.ended[2] is None
    assert record.success and record.step == 1
    assert [a.error is None for a in record.attempts] == [False, True]


async def test_a_stream_that_breaks_before_its_first_byte_is_retried():
    client = FakeClient(openai=[stream(reset()), stream(*sse(DELTA, b"[DONE]"))])
    sink, record = await send(runtime(client), openai_step(stream=True, config={"maxAttempts": 2}))
    assert client.hosts() == ["openai", "openai"] and sink.ended[2] is None and record.success


async def test_an_empty_stream_is_a_failure_before_the_first_byte():
    client = FakeClient(openai=[stream()])
    sink, record = await send(runtime(client), openai_step(stream=True))
    assert sink.started is None and sink.failed[0].status == 502 and not record.success


async def test_streamed_requests_get_the_gateway_first_byte_timeout_by_default():
    client = FakeClient(openai=[stream(*sse(DELTA, b"[DONE]"))])
    await send(runtime(client), openai_step(stream=True), gw=GatewayPolicy("default", stream_first_byte_timeout_ms=60_000))
    await send(runtime(client), openai_step(stream=False))
    assert [r["first_byte_timeout"] for r in client.requests] == [60.0, None]


async def test_a_request_timeout_overrides_the_stream_first_byte_default():
    client = FakeClient(openai=[stream(*sse(DELTA, b"[DONE]"))])
    await send(runtime(client), openai_step(stream=True, headers={"cf-aig-request-timeout": "1500"}))
    assert client.requests[0]["first_byte_timeout"] == 1.5


@pytest.mark.parametrize(("header", "value"), [("cf-aig-stream-idle-timeout", "soon"), ("cf-aig-stream-idle-timeout", "-1")])
async def test_a_bad_stream_idle_timeout_is_the_clients_mistake(header, value):
    client = FakeClient(openai=[stream()])
    sink, record = await send(runtime(client), openai_step(stream=True, headers={header: value}))
    assert sink.failed[1].code == 2010 and header in sink.failed[1].message and client.requests == []


async def test_a_first_byte_timeout_is_a_504_when_every_step_timed_out():
    from aigw.upstream.errors import FirstByteTimeout

    client = FakeClient(openai=[Reply(raise_on_request=FirstByteTimeout("no response byte"))])
    sink, record = await send(runtime(client), openai_step(config={"requestTimeout": 100}))
    assert isinstance(sink.failed[1], RequestTimeout) and sink.failed[0].status == 504
