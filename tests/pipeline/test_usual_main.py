"""The usual request (one step, no stream, cache or rate limit, an idle pooled upstream
connection) runs natively from its plan to its logged answer (`pipeline._USUAL_MAIN`,
rust/src/python/usual_main.rs), with the same outcome as `_Run.main`, which it hands every
other request to before changing anything, or to `_Run.resumed` once its request is written.

Each case runs the same requests twice against a real HTTP server through the real
UpstreamClient: as they run, and with the native set-up turned off (`_usual_run` declining),
so Python runs them all; the log record, the attempts and the answer must be the same."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect

import orjson
import pytest
from aiohttp import web

from aigw import pipeline
from aigw.builtins.memory_cache import MemoryCache
from aigw.builtins.providers.openai import OpenAIProvider
from aigw.options import RetryPolicy
from aigw.pipeline import GatewayPolicy, GatewayRequest, Runtime, run
from aigw.upstream import UpstreamClient

from pipeline_fakes import Keys, RecordingLogger, RecordingSink, openai_step

OPENAI_JSON = orjson.dumps({"id": "c1", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})

#: What differs between two runs of the same request whichever path runs it.
_PER_RUN = {"log_id", "created_at", "duration_ms", "ttfb_ms", "attempts"}


@contextlib.asynccontextmanager
async def upstream(*replies):
    """A real HTTP server answering its requests with `replies` in turn (the last one again
    once they run out): (status, body) pairs, or an asyncio.Event to wait for first."""
    seen = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(await request.read())
        reply = replies[min(len(seen), len(replies)) - 1]
        if isinstance(reply, asyncio.Event):
            await reply.wait()
            reply = (200, OPENAI_JSON)
        status, body = reply
        return web.Response(status=status, body=body, headers={"content-type": "application/json"})

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1", seen
    finally:
        await runner.cleanup()


class Paths:
    """Counts how often the Python coroutines run a request: `main` from the start,
    `resumed` after the native path wrote it."""

    def __init__(self, monkeypatch) -> None:
        self.main = self.resumed = 0
        real_main, real_resumed = pipeline._Run.main, pipeline._Run.resumed

        def main(run_, *args):
            self.main += 1
            return real_main(run_, *args)

        def resumed(run_, *args):
            self.resumed += 1
            return real_resumed(run_, *args)

        monkeypatch.setattr(pipeline._Run, "main", main)
        monkeypatch.setattr(pipeline._Run, "resumed", resumed)


def outcome(sink: RecordingSink, record) -> tuple:
    """What either path must produce alike (the timing fields aside)."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name not in _PER_RUN}
    attempts = [(a.step, a.attempt, a.provider, a.model, a.status, a.error) for a in record.attempts]
    answer = sink.delivered and dataclasses.replace(sink.delivered[0], log_id="", headers=list(sink.delivered[0].headers)[:1])
    delivered = sink.delivered and (answer, sink.delivered[1])
    failed = sink.failed and (sink.failed[0].status, sink.failed[1].message)
    return fields, attempts, delivered, failed


async def requests(base: str, steps, *, native: bool, monkeypatch, gw=None, sink_for=RecordingSink, warm: bool = True):
    """A warm-up request (so the pool holds an idle connection), then one request per step;
    (outcome, Paths) of each after the warm-up, run natively or all in Python."""
    results = []
    with monkeypatch.context() as m:
        if not native:
            m.setattr(pipeline, "_usual_run", lambda *args: None)
        logger = RecordingLogger()
        async with UpstreamClient() as client:
            rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [logger])
            gw = gw or GatewayPolicy("default")
            if warm:
                await run(rt, gw, GatewayRequest("default", "websocket", "warm", [openai_step()], {}), RecordingSink())
            for step in steps:
                paths = Paths(m)
                sink = sink_for()
                record = await run(rt, gw, GatewayRequest("default", "websocket", "e1", [step], {}), sink)
                assert logger.records[-1:] == ([record] if gw.collect_logs else [])  # logged when logs are on
                results.append((outcome(sink, record), paths))
    return results


async def both(monkeypatch, replies, steps=None, **kwargs):
    """`requests` on a fresh server each: (native results, Python results)."""
    steps = steps or [openai_step()]
    made = []
    for native in (True, False):
        async with upstream(*replies) as (base, _):
            made.append(await requests(base, steps, native=native, monkeypatch=monkeypatch, **kwargs))
    return made


@pytest.mark.parametrize("collect", [True, False], ids=["logs collected", "logs off"])
async def test_the_usual_request_runs_natively_as_python_would(monkeypatch, collect):
    native, python = await both(monkeypatch, [(200, OPENAI_JSON)], gw=GatewayPolicy("default", collect_logs=collect))
    (native_outcome, native_paths), (python_outcome, python_paths) = native[0], python[0]
    assert native_outcome == python_outcome
    assert (native_paths.main, native_paths.resumed) == (0, 0)
    assert python_paths.main == 1
    fields, attempts, delivered, _ = native_outcome
    assert fields["status"] == 200 and fields["tokens_in"] == 3 and attempts == [(0, 1, "openai", "gpt-4o-mini", 200, None)]
    assert fields["request_body"] == (openai_step().body if collect else None)


async def test_a_request_with_no_idle_connection_is_left_to_main_from_the_start(monkeypatch):
    async with upstream((200, OPENAI_JSON)) as (base, seen):
        [(native, paths)] = await requests(base, [openai_step()], native=True, monkeypatch=monkeypatch, warm=False)
    async with upstream((200, OPENAI_JSON)) as (base, _):
        [(python, _)] = await requests(base, [openai_step()], native=False, monkeypatch=monkeypatch, warm=False)
    assert native == python
    assert (paths.main, paths.resumed) == (1, 0)
    assert len(seen) == 1  # declined before it wrote anything: main sent the one request


async def test_a_streamed_request_gets_mains_own_coroutine():
    rt = Runtime({"openai": OpenAIProvider("openai", "http://127.0.0.1:9/v1")}, Keys(), UpstreamClient(), None, None, [])
    made = run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "e1", [openai_step(stream=True)], {}), RecordingSink())
    assert inspect.iscoroutine(made)
    made.close()


async def test_the_usual_awaitable_is_a_coroutine_to_asyncio(monkeypatch):
    async with upstream((200, OPENAI_JSON)) as (base, _):
        async with UpstreamClient() as client:
            rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [])
            gw = GatewayPolicy("default")
            await run(rt, gw, GatewayRequest("default", "websocket", "warm", [openai_step()], {}), RecordingSink())
            made = run(rt, gw, GatewayRequest("default", "websocket", "e1", [openai_step()], {}), RecordingSink())
            assert type(made).__name__ == "UsualRequest" and asyncio.iscoroutine(made)
            task = asyncio.get_running_loop().create_task(made)  # how the WebSocket session runs it
            record = await task
    assert task.result() is record and record.status == 200 and record.success


async def test_an_error_answer_is_handed_to_resumed_and_retried_as_python_would(monkeypatch):
    replies = [(200, OPENAI_JSON), (500, b'{"error": "boom"}'), (200, OPENAI_JSON)]
    gw = GatewayPolicy("default", retry=RetryPolicy(max_attempts=2))
    native, python = await both(monkeypatch, replies, gw=gw)
    (native_outcome, native_paths), (python_outcome, _) = native[0], python[0]
    assert native_outcome == python_outcome
    assert (native_paths.main, native_paths.resumed) == (0, 1)
    assert [a[4] for a in native_outcome[1]] == [500, 200]


async def test_an_error_answer_after_every_try_is_relayed_as_python_would(monkeypatch):
    native, python = await both(monkeypatch, [(200, OPENAI_JSON), (503, b'{"error": "down"}')])
    assert native[0][0] == python[0][0]
    assert native[0][0][0]["status"] == 503 and native[0][0][0]["success"] is False


class BrokenSink(RecordingSink):
    def deliver(self, answer, body):
        raise RuntimeError("the sink broke")


async def test_a_bug_while_delivering_is_raised_and_logged_as_a_500_alike_on_both_paths(monkeypatch):
    logged = []
    for native in (True, False):
        logger = RecordingLogger()
        async with upstream((200, OPENAI_JSON)) as (base, _), UpstreamClient() as client:
            rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [logger])
            with monkeypatch.context() as m:
                if not native:
                    m.setattr(pipeline, "_usual_run", lambda *args: None)
                await run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "warm", [openai_step()], {}), RecordingSink())
                paths = Paths(m)
                with pytest.raises(RuntimeError, match="the sink broke"):
                    await run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "e1", [openai_step()], {}), BrokenSink())
        if native:
            assert (paths.main, paths.resumed) == (0, 0)  # ended natively (failed_natively)
        record = logger.records[-1]
        logged.append((record.status, record.success, record.error, [(a.status, a.error) for a in record.attempts], record.attempts[0].duration_ms > 0))
    assert logged[0] == logged[1] == (500, False, "internal error: RuntimeError", [(200, None)], True)


async def test_cancelling_the_request_while_it_waits_logs_it_cancelled_and_frees_its_connection(monkeypatch):
    ended = []
    for native in (True, False):
        hold = asyncio.Event()
        logger = RecordingLogger()
        async with upstream((200, OPENAI_JSON), hold) as (base, seen), UpstreamClient() as client:
            rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [logger])
            with monkeypatch.context() as m:
                if not native:
                    m.setattr(pipeline, "_usual_run", lambda *args: None)
                await run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "warm", [openai_step()], {}), RecordingSink())
                paths = Paths(m)
                task = asyncio.get_running_loop().create_task(
                    run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "e1", [openai_step()], {}), RecordingSink())
                )
                while len(seen) < 2:
                    await asyncio.sleep(0.005)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                hold.set()
            pool = next(iter(client._pools.values()))
            record = logger.records[-1]
            ended.append((record.cancelled, record.error, len(record.attempts), pool.size(), len(pool.idle)))
            if native:
                assert (paths.main, paths.resumed) == (0, 1)
    assert ended[0] == ended[1] == (True, "cancelled", 1, 0, 0)


async def test_a_request_on_a_connection_the_upstream_closed_is_tried_again_once(monkeypatch):
    """The server closes each connection after its first answer (without saying so): the
    next request written on the pooled connection meets a closed connection before any
    answer byte; an idempotent one (its Idempotency-Key) is sent again on a new one."""
    from aigw.validation import CheckedHeaders

    served = []

    async def serve(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
        served.append(head + await reader.readexactly(length))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(OPENAI_JSON), OPENAI_JSON))
        await writer.drain()
        with contextlib.suppress(Exception):
            await reader.read(65536)  # the next request, then close without an answer
        writer.close()

    step = openai_step()
    step.headers = CheckedHeaders({"content-type": "application/json", "idempotency-key": "k1"})
    results = []
    for native in (True, False):
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        base = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        try:
            [(got, paths)] = await requests(base, [step], native=native, monkeypatch=monkeypatch)
        finally:
            server.close()
        results.append(got)
        if native:
            assert (paths.main, paths.resumed) == (0, 1)
    assert results[0] == results[1]
    assert results[0][0]["status"] == 200 and len(results[0][1]) == 1


def test_the_usual_awaitable_refuses_classes_without_the_slots_it_uses():
    class Bare:
        __slots__ = ()

    parts = (pipeline._USUAL_PLAN, pipeline.upstream_client._EXCHANGE, pipeline._WHOLE_ANSWER, pipeline._USUAL_BUILD)
    with pytest.raises(ValueError, match="is not a slot"):
        pipeline._codec.UsualMain((Bare,) * 13, parts, print, print, print, print, print)
    with pytest.raises(ValueError, match="takes 13 classes"):
        pipeline._codec.UsualMain((Bare,) * 12, parts, print, print, print, print, print)


async def test_a_usual_awaitable_closed_before_it_starts_sends_nothing(monkeypatch):
    async with upstream((200, OPENAI_JSON)) as (base, seen), UpstreamClient() as client:
        logger = RecordingLogger()
        rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [logger])
        await run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "warm", [openai_step()], {}), RecordingSink())
        made = run(rt, GatewayPolicy("default"), GatewayRequest("default", "websocket", "e1", [openai_step()], {}), RecordingSink())
        made.close()
        with pytest.raises(RuntimeError, match="cannot reuse"):
            made.send(None)
    assert len(seen) == 1 and len(logger.records) == 1


@pytest.mark.parametrize("ttl, native_runs", [(0, True), (60, False)], ids=["a cache it does not use", "a cache it stores in"])
async def test_a_gateway_cache_leaves_the_request_native_unless_the_request_uses_it(monkeypatch, ttl, native_runs):
    async with upstream((200, OPENAI_JSON)) as (base, _), UpstreamClient() as client:
        rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, MemoryCache(), None, [])
        gw = GatewayPolicy("default", cache_ttl=ttl)
        await run(rt, gw, GatewayRequest("default", "websocket", "warm", [openai_step("warm")]), RecordingSink())
        paths = Paths(monkeypatch)
        record = await run(rt, gw, GatewayRequest("default", "websocket", "e1", [openai_step()]), RecordingSink())
    assert record.status == 200 and record.success
    assert paths.main == (0 if native_runs else 1)


async def test_driven_by_hand_it_yields_the_answers_future_then_stops_with_the_record(monkeypatch):
    """`send` as a generator-based caller uses it (a Task and `await` use the type's
    am_send slot instead): the answer's future, flagged as awaited, then StopIteration."""
    async with upstream((200, OPENAI_JSON)) as (base, _), UpstreamClient() as client:
        rt = Runtime({"openai": OpenAIProvider("openai", base)}, Keys(), client, None, None, [])
        gw = GatewayPolicy("default")
        await run(rt, gw, GatewayRequest("default", "websocket", "warm", [openai_step()]), RecordingSink())
        made = run(rt, gw, GatewayRequest("default", "websocket", "e1", [openai_step()]), RecordingSink())
        waiter = made.send(None)
        assert isinstance(waiter, asyncio.Future) and waiter._asyncio_future_blocking
        await asyncio.wait([waiter])
        with pytest.raises(StopIteration) as stopped:
            made.send(None)
    assert stopped.value.value.status == 200 and stopped.value.value.success
