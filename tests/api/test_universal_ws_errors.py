"""Errors over the Universal WebSocket API: every error names its eventId, bad messages leave
the connection usable, limits answer with their codes or close codes, `universal.cancel`
aborts the upstream call, and a stream that breaks ends with `metadata.error`
(websocket-api.md "Server → client", "Limits and flow control", "Close codes")."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
import websockets
from universal_ws_helpers import answer, answers, chunk_text, connect, create, eventually, recv, step


def error_of(msg: dict) -> dict:
    return msg["response"]["errors"][0]


async def closed_with(ws) -> int:
    with pytest.raises(websockets.ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 10)
    return info.value.rcvd.code


async def test_invalid_json_gets_an_error_and_the_connection_stays_usable(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send("{not json")
        msg = await recv(ws)
        assert msg["type"] == "universal.error" and msg["error"]["code"] and msg["error"]["message"]
        await ws.send(create(step("openai", "still here", event_id="after")))
        (ok,) = await answer(ws)
        assert ok["metadata"]["eventId"] == "after" and ok["metadata"]["status"] == 200


async def test_unknown_type_gets_an_error_with_the_event_id(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(orjson.dumps({"type": "universal.frobnicate", "request": {"eventId": "u1"}}).decode())
        msg = await recv(ws)
        assert msg["type"] == "universal.error" and msg["metadata"]["eventId"] == "u1"
        assert "frobnicate" in msg["error"]["message"]


@pytest.mark.parametrize("missing", ["provider", "endpoint"])
async def test_a_step_without_provider_or_endpoint_is_an_error_for_its_event_id(gateway, missing):
    async with gateway() as gw, connect(gw) as ws:
        request = step("openai", event_id="m1")
        del request[missing]
        await ws.send(create(request))
        msg = await recv(ws)
    assert msg["type"] == "universal.created" and msg["metadata"]["eventId"] == "m1"
    assert msg["metadata"]["status"] == 400 and missing in error_of(msg)["message"]


async def test_a_duplicate_in_flight_event_id_is_refused_while_the_first_completes(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 5, 0.03
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c d e", stream=True, event_id="dup")))
        await ws.send(create(step("openai", "other", stream=True, event_id="dup")))
        messages = []
        while not messages or messages[-1]["type"] != "universal.done":
            messages.append(await recv(ws))
    refusals = [m for m in messages if m["type"] == "universal.error"]
    assert len(refusals) == 1 and refusals[0]["metadata"]["eventId"] == "dup"
    assert "already in flight" in refusals[0]["error"]["message"]
    rest = [m for m in messages if m is not refusals[0]]
    assert rest[0]["type"] == "universal.created" and "response" not in rest[0]
    assert "error" not in rest[-1]["metadata"]
    assert "".join(chunk_text(m.get("response")) for m in rest).split() == ["a", "b", "c", "d", "e"]
    assert len(sims["openai"].requests) == 1


async def test_unknown_provider_is_error_2008(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create({"eventId": "p", "provider": "nope-ai", "endpoint": "x", "query": {}}))
        (msg,) = await answer(ws)
    assert msg["metadata"]["eventId"] == "p" and msg["metadata"]["status"] == 400
    assert error_of(msg)["code"] == 2008


async def test_requests_over_the_in_flight_limit_get_2003_with_status_429(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 4, 0.05
    async with gateway(server={"max_inflight_per_connection": 2}) as gw, connect(gw) as ws:
        for i in range(3):
            await ws.send(create(step("openai", "a b c d", stream=True, event_id=f"r{i}")))
        got = await answers(ws, 3)
    (refused,) = got["r2"]
    assert refused["type"] == "universal.created" and refused["metadata"]["status"] == 429
    assert error_of(refused)["code"] == 2003
    assert got["r0"][-1]["type"] == got["r1"][-1]["type"] == "universal.done"


async def test_an_oversized_message_closes_with_1009(gateway):
    async with gateway(server={"max_message_size": 1024}) as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x" * 2000, event_id="big")))
        assert await closed_with(ws) == 1009


async def test_a_binary_message_closes_with_1003(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="b")).encode())
        assert await closed_with(ws) == 1003


async def test_cancel_ends_the_stream_with_cancelled_done_and_aborts_the_upstream(gateway, sims):
    sim = sims["openai"]
    sim.chunks, sim.chunk_delay = 100, 0.02
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", " ".join(f"w{i}" for i in range(100)), stream=True, event_id="c")))
        while (await recv(ws))["type"] != "universal.stream":
            pass
        await ws.send(orjson.dumps({"type": "universal.cancel", "eventId": "c"}).decode())
        while (msg := await recv(ws))["type"] == "universal.stream":
            pass
        assert msg["type"] == "universal.done"
        assert msg["metadata"]["cancelled"] is True and msg["metadata"]["eventId"] == "c"
        assert msg["metadata"]["logId"]  # the full metadata, as sent at the start
        await eventually(lambda: sim.streams_aborted == 1)
        assert sim.streams_finished == 0
        await ws.send(create(step("openai", "after cancel", event_id="next")))
        (ok,) = await answer(ws)
        assert ok["metadata"]["status"] == 200


async def test_cancel_of_an_unknown_event_id_is_an_error(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(orjson.dumps({"type": "universal.cancel", "eventId": "ghost"}).decode())
        msg = await recv(ws)
    assert msg["type"] == "universal.error" and msg["metadata"]["eventId"] == "ghost"


async def test_a_reset_mid_stream_ends_with_an_error_and_spares_other_requests(gateway, sims):
    sims["openai"].chunk_delay = 0.01
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "a b c d", stream=True, model="sim-fault-reset-after-2", event_id="broken")))
        await ws.send(create(step("anthropic", "fine and well", stream=True, event_id="fine")))
        got = await answers(ws, 2)
    broken, fine = got["broken"], got["fine"]
    assert broken[-1]["type"] == "universal.done"
    error = broken[-1]["metadata"]["error"]
    assert error["code"] == 2005 and error["message"]
    assert "".join(chunk_text(m.get("response")) for m in broken).split() == ["a", "b"]
    assert "error" not in fine[-1]["metadata"]
    assert "".join(chunk_text(m.get("response")) for m in fine).split() == ["fine", "and", "well"]


async def test_an_event_that_is_not_json_is_relayed_as_a_string(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("anthropic", "a b c", stream=True, model="sim-fault-malformed-after-1", event_id="bad")))
        messages = await answer(ws)
    strings = [m["response"] for m in messages if isinstance(m.get("response"), str)]
    assert strings == ['{"type":"content_block_delta","index":0,"delta":']
    assert messages[-1]["type"] == "universal.done" and "error" not in messages[-1]["metadata"]


@contextlib.asynccontextmanager
async def raw_upstream(body: bytes):
    """An HTTP/1.1 server answering every request with an SSE `body` (Content-Length framed)."""

    async def on_conn(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(body)
            writer.write(head + body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_a_stream_that_ends_inside_an_event_ends_with_an_error(gateway):
    body = b'data: {"choices":[{"delta":{"content":"ok"}}]}\n\ndata: {"choices":[{"delta":'
    async with raw_upstream(body) as url, gateway(providers={"openai": {"base_url": url + "/v1"}}) as gw, connect(gw) as ws:
        await ws.send(create(step("openai", "x", stream=True, event_id="cut")))
        messages = await answer(ws)
    assert [m["type"] for m in messages] == ["universal.created", "universal.stream", "universal.done"]
    error = messages[-1]["metadata"]["error"]
    assert error["code"] == 2005 and "middle of an event" in error["message"]


async def test_cancel_before_the_upstream_answered_ends_with_cancelled_done(gateway, sims):
    sims["openai"].latency = 2.0
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "slow", stream=True, event_id="early")))
            await eventually(lambda: len(sims["openai"].requests) == 1)
            await ws.send(orjson.dumps({"type": "universal.cancel", "eventId": "early"}).decode())
            (msg,) = await answer(ws, timeout=1.5)
        await gw.stop()
    assert msg["type"] == "universal.done" and msg["metadata"]["eventId"] == "early"
    assert msg["metadata"]["cancelled"] is True
    assert msg["metadata"]["logId"]  # the request's log id, as every final message carries


async def test_a_cancelled_request_is_logged_as_cancelled(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 50, 0.02
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", " ".join(["w"] * 50), stream=True, event_id="c")))
            while (await recv(ws))["type"] != "universal.stream":
                pass
            await ws.send(orjson.dumps({"type": "universal.cancel", "eventId": "c"}).decode())
            while (await recv(ws))["type"] != "universal.done":
                pass
        await gw.stop()
    import sqlite3

    with sqlite3.connect(gw.log_db) as db:
        assert db.execute("SELECT event_id, cancelled FROM logs").fetchall() == [("c", 1)]


async def test_an_invalid_step_config_is_an_error_for_its_event_id(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", config={"maxAttempts": 9}, event_id="cfg")))
        (msg,) = await answer(ws)
    assert msg["type"] == "universal.created" and msg["metadata"]["eventId"] == "cfg"
    assert msg["metadata"]["status"] == 400 and "maxAttempts" in error_of(msg)["message"]
    assert sims["openai"].requests == []


async def test_an_event_id_at_the_top_level_is_used(gateway):
    async with gateway() as gw, connect(gw) as ws:
        message = {"type": "universal.create", "eventId": "top", "request": step("openai")}
        await ws.send(orjson.dumps(message).decode())
        (msg,) = await answer(ws)
    assert msg["metadata"]["eventId"] == "top" and msg["metadata"]["status"] == 200


async def test_invalid_utf8_in_a_text_message_closes_with_1007(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(b'{"type": "universal.create", "x": "\xff"}', text=True)
        assert await closed_with(ws) == 1007


class _RecordingSocket:
    """What UniversalSession needs of a server connection, recording what it sends."""

    closed = False

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.working = 0

    def send_text(self, payload: bytes) -> None:
        self.sent.append(orjson.loads(payload))

    def work_started(self) -> None:
        self.working += 1

    def work_finished(self) -> None:
        self.working -= 1


async def test_a_request_cancelled_before_its_task_ran_still_ends_with_cancelled_done():
    # A create and its cancel in one read: the task is cancelled before its first step.
    from aigw._codec import TEXT
    from aigw.api.universal_ws import UniversalSession
    from aigw.pipeline import GatewayPolicy, Runtime

    session = UniversalSession(Runtime(providers={}, keys=None, client=None), GatewayPolicy("default"))
    ws = _RecordingSocket()
    session.on_message(ws, TEXT, create(step("openai", event_id="early")).encode())
    session.on_message(ws, TEXT, orjson.dumps({"type": "universal.cancel", "eventId": "early"}))
    await eventually(lambda: ws.sent)
    (done,) = ws.sent
    assert done["type"] == "universal.done" and done["metadata"]["cancelled"] is True
    assert done["metadata"]["eventId"] == "early" and done["metadata"]["logId"]
    assert not session.inflight and ws.working == 0


async def test_a_request_runs_as_a_task_named_by_its_log_id():
    from aigw._codec import TEXT
    from aigw.api.universal_ws import UniversalSession
    from aigw.pipeline import GatewayPolicy, Runtime

    session = UniversalSession(Runtime(providers={}, keys=None, client=None), GatewayPolicy("default"))
    ws = _RecordingSocket()
    session.on_message(ws, TEXT, create(step("openai", event_id="named")).encode())
    task = session.inflight["named"]
    await eventually(lambda: ws.sent)
    assert task.get_name() == ws.sent[0]["metadata"]["logId"]


async def test_a_request_runs_through_the_loops_task_factory_when_it_has_one():
    from aigw._codec import TEXT
    from aigw.api.universal_ws import UniversalSession
    from aigw.pipeline import GatewayPolicy, Runtime

    loop = asyncio.get_running_loop()
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop.set_task_factory(factory)
    try:
        session = UniversalSession(Runtime(providers={}, keys=None, client=None), GatewayPolicy("default"))
        ws = _RecordingSocket()
        session.on_message(ws, TEXT, create(step("openai", event_id="factory")).encode())
        await eventually(lambda: ws.sent)
    finally:
        loop.set_task_factory(None)
    assert len(made) == 1 and ws.sent[0]["metadata"]["eventId"] == "factory"
