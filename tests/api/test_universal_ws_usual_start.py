"""The Universal WebSocket session starts the usual `universal.create` natively
(`universal_ws._usual_start`, rust/src/python/usual_start.rs) and ends it natively when its
task ended with a record; `_start` and `_ran` stay the path for everything else. The same
requests answer, log and leave the session alike either way."""

from __future__ import annotations

import asyncio
import dataclasses

from universal_ws_helpers import answer, answers, connect, create, step

from aigw.api import universal_ws
from aigw.server.websocket import WebSocket

#: What differs between two runs of the same request whichever path starts it (the
#: simulator numbers its answers; each gateway has its own token).
_PER_RUN = {"log_id", "created_at", "duration_ms", "ttfb_ms", "attempts", "response_body", "principal"}


def counted_starts(monkeypatch, *, native: bool) -> list[bool]:
    """Each `_usual_start` answer (True: started natively); `native=False` makes it decline."""
    starts: list[bool] = []
    real = universal_ws._usual_start

    def start(*args):
        started = real(*args) if native else False
        starts.append(started)
        return started

    monkeypatch.setattr(universal_ws, "_usual_start", start)
    return starts


async def one_request(gateway, monkeypatch, *, native: bool):
    starts = counted_starts(monkeypatch, native=native)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="first")))
        await answer(ws)
        await ws.send(create(step("openai", event_id="e1")))
        (msg,) = await answer(ws)
        record = gw.records[-1]
    msg["metadata"].pop("logId")
    msg["response"].pop("id")  # the simulator numbers its answers
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name not in _PER_RUN}
    return msg, fields, starts


async def test_a_usual_create_is_started_natively_and_answered_as_python_would(gateway, sims, monkeypatch):
    native_msg, native_record, native_starts = await one_request(gateway, monkeypatch, native=True)
    python_msg, python_record, python_starts = await one_request(gateway, monkeypatch, native=False)
    assert native_msg == python_msg
    assert native_record == python_record
    assert (native_starts, python_starts) == ([True, True], [False, False])
    assert native_msg["metadata"]["status"] == 200 and native_record["event_id"] == "e1"


async def test_a_request_started_natively_leaves_the_session_when_it_ends(gateway, sims, monkeypatch):
    starts = counted_starts(monkeypatch, native=True)
    async with gateway() as gw, connect(gw) as ws:
        for _ in range(3):  # the same eventId again: free once its request ended
            await ws.send(create(step("openai", event_id="again")))
            (msg,) = await answer(ws)
            assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 200
        assert [r.event_id for r in gw.records] == ["again"] * 3
    assert starts == [True, True, True]


async def test_a_duplicate_event_id_in_flight_is_left_to_start_and_refused(gateway, sims, monkeypatch):
    starts = counted_starts(monkeypatch, native=True)
    sims["openai"].chunks, sims["openai"].chunk_delay = 5, 0.05
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="first")))
        await answer(ws)
        await ws.send(create(step("openai", "a b c d e", stream=True, event_id="twice")))
        await ws.send(create(step("openai", event_id="twice")))
        got = await answers(ws, 1)
    messages = got["twice"]
    assert any(m["type"] == "universal.error" and m["error"]["code"] == 2010 for m in messages)
    assert starts == [True, True, False]


async def test_a_loop_with_a_task_factory_makes_the_requests_task(gateway, sims, monkeypatch):
    loop = asyncio.get_running_loop()
    made = []

    def factory(loop, coro, **kwargs):
        made.append(coro)
        return asyncio.Task(coro, loop=loop, **kwargs)

    starts = counted_starts(monkeypatch, native=True)
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="first")))
        await answer(ws)
        loop.set_task_factory(factory)
        try:
            await ws.send(create(step("openai", event_id="factory")))
            (msg,) = await answer(ws)
        finally:
            loop.set_task_factory(None)
    assert msg["metadata"]["status"] == 200 and starts == [True, False]
    assert any(type(coro).__name__ == "UsualRequest" for coro in made)


async def test_a_natively_started_requests_callback_shows_the_collector_its_session(gateway, sims, monkeypatch):
    """The Task's done callback holds the session, which holds the Task: a cycle the collector
    must see through (for a request that never ends)."""
    import gc

    sims["openai"].chunks, sims["openai"].chunk_delay = 5, 0.1
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="first")))
        await answer(ws)
        await ws.send(create(step("openai", "a b c d e", stream=True, event_id="slow")))
        await asyncio.sleep(0.05)
        callbacks = [cb for task in asyncio.all_tasks() for cb, _ in task._callbacks or () if getattr(cb, "__name__", "") == "ran"]
        (ran,) = [cb.__self__ for cb in callbacks]
        assert gc.is_tracked(ran)
        assert any(type(o) is universal_ws.UniversalSession for o in gc.get_referents(ran))
        await answers(ws, 1)


async def test_a_natively_started_request_is_counted_in_the_connection_s_slots(gateway, sims, monkeypatch):
    asked = []
    for name in ("work_started", "work_finished"):
        python = getattr(WebSocket, name)
        monkeypatch.setattr(WebSocket, name, lambda self, _name=name, _python=python: (asked.append(_name), _python(self))[1])
    starts = counted_starts(monkeypatch, native=True)
    async with gateway() as gw, connect(gw) as ws:
        for event_id in ("one", "two"):
            await ws.send(create(step("openai", event_id=event_id)))
            (msg,) = await answer(ws)
            assert msg["metadata"]["status"] == 200
        (conn,) = [c for c in gw.gateway.server.connections if isinstance(c, WebSocket)]
        await asyncio.sleep(0.05)  # the request's done callback runs after its answer
        assert (conn._in_flight, conn._activity) == (0, True)
    assert starts == [True, True] and asked == []
