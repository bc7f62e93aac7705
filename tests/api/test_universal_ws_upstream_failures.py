"""Upstreams that break, over real sockets: a whole body that breaks off is an upstream failure
(retried, failed over, 502/2005 when every step failed, logged as a failure), and a stream that
breaks after it started ends with `metadata.error` and a failed log row, never as a success."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from universal_ws_helpers import answer, connect, create, step


def error_of(msg: dict) -> dict:
    return msg["response"]["errors"][0]


@contextlib.asynccontextmanager
async def raw_upstream(response: bytes, *, then: str = "close"):
    """An HTTP/1.1 server answering every request with the raw bytes `response`, then closing
    the connection (`then="close"`) or keeping it open and silent (`then="stall"`)."""
    stalled: list[asyncio.StreamWriter] = []

    async def on_conn(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response)
            await writer.drain()
            if then == "stall":
                stalled.append(writer)
                return
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        for w in stalled:
            w.close()
        server.close()


JSON_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
BROKEN_BODIES = {
    "shorter-than-content-length": JSON_HEAD + b'content-length: 500\r\n\r\n{"choices":[',
    "bad-chunk-size": JSON_HEAD + b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "bad-gzip": JSON_HEAD + b"content-encoding: gzip\r\ncontent-length: 9\r\n\r\nnot gzip!",
}


@pytest.mark.parametrize("kind", sorted(BROKEN_BODIES))
async def test_a_whole_body_that_breaks_off_falls_back_to_the_next_step(gateway, sims, kind):
    async with raw_upstream(BROKEN_BODIES[kind]) as url, gateway(providers={"openai": {"base_url": url + "/v1"}}) as gw:
        async with connect(gw) as ws:
            await ws.send(create([step("openai", "x", event_id="b"), step("anthropic", "x y")]))
            (msg,) = await answer(ws)
        await gw.stop()
    assert msg["metadata"]["step"] == "1" and msg["metadata"]["status"] == 200
    assert msg["response"]["type"] == "message"
    (record,) = gw.records
    assert record.success and record.provider == "anthropic"
    assert [a.provider for a in record.attempts] == ["openai", "anthropic"] and record.attempts[0].error


async def test_a_reset_mid_body_on_the_only_step_is_a_502_with_code_2005_logged_as_failed(gateway, sims):
    sims["openai"].fault_next("reset", after=0)
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "x", event_id="r")))
            (msg,) = await answer(ws)
        await gw.stop()
    assert msg["metadata"]["status"] == 502 and error_of(msg)["code"] == 2005
    (record,) = gw.records
    assert not record.success and record.status == 502 and "broke off" in record.error


async def test_a_reset_mid_body_is_retried(gateway, sims):
    sims["openai"].fault_next("reset", after=0)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", config={"maxAttempts": 2}, event_id="r")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200 and len(sims["openai"].requests) == 2


async def test_a_body_over_the_size_limit_is_an_upstream_failure(gateway, sims, monkeypatch):
    from aigw.upstream import client as upstream_client

    original = upstream_client.UpstreamClient.__init__

    def small_limit(self, **kw):
        original(self, **{**kw, "max_body_size": 64})

    monkeypatch.setattr(upstream_client.UpstreamClient, "__init__", small_limit)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a long enough answer to pass 64 bytes", config={"maxAttempts": 2}, event_id="big")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 502 and error_of(msg)["code"] == 2005
    assert "64-byte limit" in error_of(msg)["message"]
    assert len(sims["openai"].requests) == 2  # retried like any upstream failure


SSE_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def test_a_stream_that_ends_without_done_ends_with_an_error_and_a_failed_log_row(gateway):
    events = chunked(b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\n') + b"0\r\n\r\n"
    async with raw_upstream(SSE_HEAD + events) as url, gateway(providers={"openai": {"base_url": url + "/v1"}}) as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "x", stream=True, event_id="cut")))
            messages = await answer(ws)
        await gw.stop()
    assert [m["type"] for m in messages] == ["universal.created", "universal.stream", "universal.done"]
    error = messages[-1]["metadata"]["error"]
    assert error["code"] == 2005 and "[DONE]" in error["message"]
    (record,) = gw.records
    assert not record.success and "[DONE]" in record.error


async def test_a_stream_that_goes_silent_ends_with_a_timeout_error(gateway):
    events = chunked(b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\n')
    async with raw_upstream(SSE_HEAD + events, then="stall") as url, gateway(providers={"openai": {"base_url": url + "/v1"}}) as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "x", stream=True, headers={"cf-aig-stream-idle-timeout": "200"}, event_id="s")))
            messages = await answer(ws, timeout=5)
        await gw.stop()
    assert messages[-1]["type"] == "universal.done"
    error = messages[-1]["metadata"]["error"]
    assert error["code"] == 2007 and "200 ms" in error["message"]
    (record,) = gw.records
    assert not record.success and "200 ms" in record.error


async def test_a_stream_reset_after_it_started_is_logged_as_failed(gateway, sims):
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "a b c d", stream=True, model="sim-fault-reset-after-2", event_id="r")))
            messages = await answer(ws)
        await gw.stop()
    assert messages[-1]["metadata"]["error"]["code"] == 2005
    (record,) = gw.records
    assert not record.success and record.error


async def test_a_stream_that_stalls_before_its_first_event_falls_back(gateway, sims):
    async with raw_upstream(SSE_HEAD, then="stall") as url, gateway(providers={"openai": {"base_url": url + "/v1"}}) as gw:
        async with connect(gw) as ws:
            steps = [step("openai", "x", stream=True, config={"streamIdleTimeout": 200}, event_id="f"), step("anthropic", "y z", stream=True)]
            await ws.send(create(steps))
            messages = await answer(ws)
    assert messages[0]["metadata"]["step"] == "1" and "error" not in messages[-1]["metadata"]


async def test_the_request_timeout_is_measured_to_the_first_byte_not_the_whole_head(gateway, sims):
    sims["openai"].fault_next("slow_headers", delay=0.1)  # the head trickles out over ~1 s
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", headers={"cf-aig-request-timeout": "300"}, event_id="t")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200 and msg["metadata"]["step"] == "0"


async def test_a_fallback_chain_longer_than_the_cap_is_refused_before_any_upstream_request(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create([step("openai", "x", event_id="long")] + [step("openai", "x")] * 99))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 400 and error_of(msg)["code"] == 2010
    assert "at most 10 steps" in error_of(msg)["message"]
    assert sims["openai"].requests == []


async def test_the_step_cap_is_configurable(gateway, sims):
    async with gateway(gateways={"default": {"max_steps": 2}}) as gw, connect(gw) as ws:
        await ws.send(create([step("openai", "x", event_id="three")] * 3))
        (msg,) = await answer(ws)
    assert error_of(msg)["code"] == 2010 and "at most 2 steps" in error_of(msg)["message"]


async def test_the_same_body_with_another_provider_key_is_not_a_cache_hit(gateway, sims):
    ttl = {"cf-aig-cache-ttl": "60"}
    key = sims["openai"].key
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "same", headers={**ttl, "Authorization": f"Bearer {key}"}, event_id="a")))
        (first,) = await answer(ws)
        await ws.send(create(step("openai", "same", headers={**ttl, "Authorization": "Bearer sk-invalid"}, event_id="b")))
        (second,) = await answer(ws)
    assert first["metadata"]["status"] == 200
    assert second["metadata"]["cacheStatus"] == "MISS" and second["metadata"]["status"] == 401
    assert sims["openai"].requests[-1].headers["authorization"] == "Bearer sk-invalid"


async def test_the_log_row_of_a_fallback_has_the_answering_steps_body_and_every_attempt(gateway, sims):
    async with gateway() as gw:
        async with connect(gw) as ws:
            steps = [step("openai", "first wording", model="sim-fail-500", event_id="f"), step("anthropic", "second wording")]
            await ws.send(create(steps))
            await answer(ws)
        await gw.stop()
    from aigw.builtins.sqlite_log_query import LogQuery, SqliteLogReader

    with SqliteLogReader(gw.log_db) as reader:
        (row,) = reader.query(LogQuery()).records
        stored = reader.get(row.log_id)
    assert stored.provider == "anthropic" and stored.step == 1
    assert b"second wording" in stored.request_body and b"first wording" not in stored.request_body
    assert stored.request_body_size == len(sims["anthropic"].requests[0].body)
    assert [(a.step, a.provider, a.status) for a in stored.attempts] == [(0, "openai", 500), (1, "anthropic", 200)]
    assert stored.attempts[0].error == "upstream answered 500"
