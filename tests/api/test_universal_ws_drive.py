"""The usual Universal WebSocket request runs without an asyncio Task (`_codec.UsualDrive`,
rust/src/python/usual_drive.rs) until it needs Python's coroutine, which then runs as its
Task: the same answers, cancellations, logs and connection bookkeeping as a request that is a
Task from its start (`universal_ws._DRIVE = False`)."""

from __future__ import annotations

import asyncio
import gc
import sqlite3

import orjson
from universal_ws_helpers import answer, comparable, connect, create, eventually, sessions, step

from aigw import _codec
from aigw.api import universal_ws


async def warm(ws) -> None:
    """One request answered first: the native path takes a logged body only once the
    pipeline's memos know its media type (rust/src/python/usual_run.rs)."""
    await ws.send(create(step("openai", event_id="warm-up")))
    await answer(ws)


async def kind_of(gw, event_id: str) -> str:
    """The class of what the session holds in flight for `event_id` (a request the upstream
    holds for a while)."""
    (session,) = sessions(gw)
    await eventually(lambda: event_id in session.inflight)
    return type(session.inflight[event_id]).__name__


async def test_a_usual_request_runs_without_an_asyncio_task(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        sims["openai"].latency = 0.2
        before = len(asyncio.all_tasks())
        await ws.send(create(step("openai", event_id="d")))
        kind = await kind_of(gw, "d")
        during = len(asyncio.all_tasks())
        (msg,) = await answer(ws)
    assert kind == "UsualDrive"
    assert during == before
    assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 200


async def test_a_driven_request_answers_as_one_run_as_a_task(gateway, sims, monkeypatch):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        sims["openai"].latency = 0.1
        await ws.send(create(step("openai", event_id="same")))
        kinds = [await kind_of(gw, "same")]
        driven = comparable(await answer(ws))
        monkeypatch.setattr(universal_ws, "_DRIVE", False)
        await ws.send(create(step("openai", event_id="same")))
        kinds.append(await kind_of(gw, "same"))
        as_task = comparable(await answer(ws))
    assert kinds == ["UsualDrive", "Task"]
    assert driven == as_task


async def test_a_driven_request_leaves_the_session_and_the_connections_work_count(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        await ws.send(create(step("openai", event_id="e")))
        await answer(ws)
        (session,) = sessions(gw)
        await eventually(lambda: not session.inflight)
        (conn,) = [c for c in gw.gateway.server.connections if hasattr(c, "handler")]
        assert conn.in_flight == 0


async def sent_slowly(ws, sims, event_id: str) -> None:
    """After the warm-up, a request for `event_id` that the upstream holds for 2 s, sent and
    seen by the upstream."""
    await warm(ws)
    sims["openai"].latency = 2.0
    await ws.send(create(step("openai", "slow", event_id=event_id)))
    await eventually(lambda: len(sims["openai"].requests) == 2)


async def test_a_driven_request_cancelled_while_it_waits_ends_cancelled_and_is_logged_so(gateway, sims):
    async with gateway() as gw:
        async with connect(gw) as ws:
            await sent_slowly(ws, sims, "c")
            await ws.send(orjson.dumps({"type": "universal.cancel", "eventId": "c"}).decode())
            (msg,) = await answer(ws, timeout=1.5)
            (session,) = sessions(gw)
            await eventually(lambda: not session.inflight)
        await gw.stop()
    assert msg["type"] == "universal.done" and msg["metadata"]["cancelled"] is True
    assert msg["metadata"]["eventId"] == "c" and msg["metadata"]["logId"]
    with sqlite3.connect(gw.log_db) as db:
        assert db.execute("SELECT event_id, cancelled FROM logs ORDER BY event_id").fetchall() == [("c", 1), ("warm-up", 0)]


async def test_a_driven_request_whose_answer_needs_a_retry_is_handed_over_to_a_task(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        sims["openai"].fail_next(500, 1)
        await ws.send(create(step("openai", "x", config={"maxAttempts": 2, "retryDelay": 300}, event_id="r")))
        await eventually(lambda: len(sims["openai"].requests) == 2)
        (session,) = sessions(gw)
        await eventually(lambda: isinstance(session.inflight.get("r"), asyncio.Task))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200 and len(sims["openai"].requests) == 3


async def test_cancel_all_returns_once_driven_requests_are_answered(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        sims["openai"].latency = 2.0
        await ws.send(create(step("openai", "a", event_id="a")))
        await ws.send(create(step("openai", "b", event_id="b")))
        await eventually(lambda: len(sims["openai"].requests) == 3)
        (session,) = sessions(gw)
        # the first is driven; the second found no idle upstream connection and runs as a Task
        assert {type(t) for t in session.inflight.values()} == {_codec.UsualDrive, asyncio.Task}
        await asyncio.wait_for(session.cancel_all(), 1.5)
        assert not session.inflight
        got = [orjson.loads(await ws.recv()) for _ in range(2)]
    assert sorted(m["metadata"]["eventId"] for m in got) == ["a", "b"]
    assert all(m["type"] == "universal.done" and m["metadata"]["cancelled"] for m in got)


async def test_a_client_gone_mid_request_cancels_its_driven_requests(gateway, sims):
    async with gateway() as gw:
        async with connect(gw) as ws:
            await sent_slowly(ws, sims, "a")
            (session,) = sessions(gw)
        await eventually(lambda: not session.inflight, timeout=1.5)
        await gw.stop()
    with sqlite3.connect(gw.log_db) as db:
        assert db.execute("SELECT event_id, cancelled FROM logs ORDER BY event_id").fetchall() == [("a", 1), ("warm-up", 0)]


async def test_a_driven_request_is_pending_until_it_ends_then_reports_its_end_as_a_task(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        sims["openai"].latency = 0.3
        await ws.send(create(step("openai", event_id="p")))
        await eventually(lambda: len(sims["openai"].requests) == 2)
        (session,) = sessions(gw)
        drive = session.inflight["p"]
        assert not drive.done() and not drive.cancelled() and "pending" in repr(drive)
        assert gc.is_tracked(drive)  # what test_driven_requests_leave_nothing_behind counts on
        ended = drive.ended()
        await answer(ws)
        await asyncio.wait_for(ended, 1)
    assert drive.done() and not drive.cancelled() and drive.exception() is None
    assert drive.result().status == 200
    assert drive.cancel() is False


async def test_a_driven_request_cancelled_before_its_first_step_ends_cancelled_unsent(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        (session,) = sessions(gw)
        (conn,) = [c for c in gw.gateway.server.connections if hasattr(c, "handler")]
        # A create and its cancel handled in one go, as when both come in one read.
        session.on_message(conn, _codec.TEXT, create(step("openai", event_id="early")).encode())
        assert type(session.inflight["early"]) is _codec.UsualDrive
        session.on_message(conn, _codec.TEXT, orjson.dumps({"type": "universal.cancel", "eventId": "early"}))
        (msg,) = await answer(ws)
        await eventually(lambda: not session.inflight)
    assert msg["type"] == "universal.done" and msg["metadata"]["cancelled"] is True
    assert msg["metadata"]["eventId"] == "early" and msg["metadata"]["logId"]
    assert len(sims["openai"].requests) == 1  # the warm-up's only: the request was never sent


async def test_driven_requests_leave_nothing_behind_even_without_the_cycle_collector(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        gc.collect()
        gc.disable()  # what is left then is freed by reference counts alone, or not at all
        try:
            for i in range(50):
                await ws.send(create(step("openai", event_id=f"n{i}")))
                await answer(ws)
            (session,) = sessions(gw)
            await eventually(lambda: not session.inflight)
            left = [o for o in gc.get_objects() if type(o) in (_codec.UsualDrive, _codec.UsualRequest)]
        finally:
            gc.enable()
    assert left == []


async def test_a_drive_its_loop_cannot_schedule_is_answered_and_leaves_no_work_behind(gateway):
    class RefusingLoop:
        """A session's loop that refuses to schedule anything."""

        def get_task_factory(self):
            return None

        def call_soon(self, *args, **kwargs):
            raise RuntimeError("the loop refuses")

    async with gateway() as gw, connect(gw) as ws:
        await warm(ws)
        (tracked,) = sessions(gw)
        session = tracked.inner  # the connection's handler registers the session it wraps
        (conn,) = [c for c in gw.gateway.server.connections if hasattr(c, "handler")]
        session._loop = RefusingLoop()
        session.on_message(conn, _codec.TEXT, create(step("openai", event_id="x")).encode())
        (msg,) = await answer(ws)
        assert not session.inflight and conn.in_flight == 0
    assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 500
    assert msg["metadata"]["eventId"] == "x"
