"""The pipeline's usual answer (whole, JSON, from the gateway's own upstream client) is read,
logged and delivered natively (`pipeline._deliver_whole`, rust/src/python/whole_answer.rs),
with the same outcome as `_Run._whole_answer` and `_deliver`, which take every other answer.

Each case runs the same request twice against a real HTTP server through the real
UpstreamClient: as it runs, and with the native function made to decline, so the Python path
answers; the log record and the delivered answer must be the same."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from aigw import pipeline
from aigw.builtins.providers.anthropic import AnthropicProvider
from aigw.builtins.providers.openai import OpenAIProvider
from aigw.pipeline import GatewayPolicy, GatewayRequest, Runtime, run
from aigw.upstream import UpstreamClient

from pipeline_fakes import Keys, RecordingLogger, RecordingSink, anthropic_step, openai_step

OPENAI_JSON = orjson.dumps({"id": "c1", "choices": [{"message": {"content": "hi"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 5}})
ANTHROPIC_JSON = orjson.dumps({"id": "m1", "content": [{"type": "text", "text": "hi"}], "usage": {"input_tokens": 4, "output_tokens": 6}})


def server_app(status: int, body: bytes, content_type: str) -> web.Application:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=status, body=body, headers={"content-type": content_type, "x-upstream": "yes"})

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", answer)
    return app


async def answered(base: str, step_for: str, *, collect: bool = True) -> tuple[RecordingSink, object, int]:
    """One request to the server at `base`; (sink, record, Python `_deliver` calls)."""
    providers = {"openai": OpenAIProvider("openai", base + "/v1"), "anthropic": AnthropicProvider("anthropic", base)}
    calls = 0
    python_deliver = pipeline._Run._deliver

    def counted(self, *args):
        nonlocal calls
        calls += 1
        return python_deliver(self, *args)

    pipeline._Run._deliver = counted
    try:
        async with UpstreamClient() as client:
            rt = Runtime(providers, Keys(), client, None, None, [RecordingLogger()])
            step = openai_step() if step_for == "openai" else anthropic_step()
            sink = RecordingSink()
            request = GatewayRequest("default", "websocket", "e1", [step], {})
            record = await run(rt, GatewayPolicy("default", collect_logs=collect), request, sink)
    finally:
        pipeline._Run._deliver = python_deliver
    return sink, record, calls


def outcome(sink: RecordingSink, record) -> tuple:
    """What either path must produce alike (the timing fields aside)."""
    fields = ("status", "success", "error", "step", "response_content_type", "tokens_in", "tokens_out", "response_body", "response_body_size")
    answer = sink.delivered[0] if sink.delivered is not None else None
    return (
        {f: getattr(record, f) for f in fields},
        [(a.step, a.attempt, a.status, a.error) for a in record.attempts],
        (answer.event_id, answer.step, answer.status, answer.content_type, answer.cache_status, answer.usage, list(answer.headers)[:1]) if answer else None,
        sink.delivered[1] if sink.delivered is not None else None,
        sink.failed is None,
    )


@contextlib.asynccontextmanager
async def serving(reply: tuple[int, bytes, str]) -> AsyncIterator[str]:
    """A real HTTP server answering every POST with `reply` (status, body, content type): its base URL."""
    runner = web.AppRunner(server_app(*reply))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


async def both_paths(monkeypatch, reply: tuple[int, bytes, str], step_for: str = "openai", collect: bool = True):
    async with serving(reply) as base:
        # The Python path first: it also teaches the pipeline's memos this content type (the
        # native function declines one they have not met yet).
        with monkeypatch.context() as m:
            m.setattr(pipeline, "_deliver_whole", lambda *args: False)
            python_sink, python_record, python_calls = await answered(base, step_for, collect=collect)
        native_sink, native_record, native_calls = await answered(base, step_for, collect=collect)
    return (outcome(native_sink, native_record), native_calls), (outcome(python_sink, python_record), python_calls)


@pytest.mark.parametrize("collect", [True, False], ids=["logs collected", "logs off"])
async def test_a_usual_json_answer_is_delivered_natively_as_python_would(monkeypatch, collect):
    (native, native_calls), (python, python_calls) = await both_paths(monkeypatch, (200, OPENAI_JSON, "application/json"), collect=collect)
    assert native == python
    assert (native_calls, python_calls) == (0, 1)
    assert native[0]["tokens_in"] == 3 and native[0]["response_body"] == (OPENAI_JSON if collect else None)


async def test_an_answer_is_delivered_natively_without_logs_in_a_process_that_never_logged_a_body(monkeypatch):
    # Whether a media type is text is learnt only where a body is logged: a gateway without
    # logs never teaches it, and the native path must not wait for it.
    (_, _), (python, _) = await both_paths(monkeypatch, (200, OPENAI_JSON, "application/json"), collect=False)
    saved = dict(pipeline._TEXTUAL)
    pipeline._TEXTUAL.clear()
    try:
        async with serving((200, OPENAI_JSON, "application/json")) as base:
            sink, record, python_calls = await answered(base, "openai", collect=False)
        assert "application/json" not in pipeline._TEXTUAL
    finally:
        pipeline._TEXTUAL.update(saved)
    assert python_calls == 0
    assert outcome(sink, record) == python


@pytest.mark.parametrize(
    "body",
    [b'{"id": "c1", "choices": []}', b"", b"not json at all"],
    ids=["no usage", "empty body", "not JSON"],
)
async def test_an_answer_without_usage_is_delivered_natively_with_none(monkeypatch, body):
    (native, native_calls), (python, _) = await both_paths(monkeypatch, (200, body, "application/json; charset=utf-8"))
    assert native == python and native_calls == 0
    assert (native[0]["tokens_in"], native[0]["tokens_out"], native[0]["response_content_type"]) == (None, None, "application/json")


async def test_a_provider_with_its_own_usage_reader_is_delivered_natively_with_its_usage(monkeypatch):
    (native, native_calls), (python, _) = await both_paths(monkeypatch, (200, ANTHROPIC_JSON, "application/json"), "anthropic")
    assert native == python and native_calls == 0
    assert (native[0]["tokens_in"], native[0]["tokens_out"]) == (4, 6)


async def test_a_usage_reader_that_raises_fails_the_request_as_python_would(monkeypatch):
    from aigw.builtins.providers.anthropic import AnthropicProvider

    def broken(self, body):
        raise RuntimeError("the usage reader broke")

    monkeypatch.setattr(AnthropicProvider, "usage_from_body", broken)
    for native in (True, False):
        with monkeypatch.context() as m:
            if not native:
                m.setattr(pipeline, "_deliver_whole", lambda *args: False)
            runner = web.AppRunner(server_app(200, ANTHROPIC_JSON, "application/json"))
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            try:
                with pytest.raises(RuntimeError, match="the usage reader broke"):
                    await answered(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}", "anthropic")
            finally:
                await runner.cleanup()


@pytest.mark.parametrize(
    "reply, step_for",
    [
        ((429, b'{"error": "slow down"}', "application/json"), "openai"),
        ((200, b"plain words", "text/plain"), "openai"),
    ],
    ids=["an error answer", "not JSON framing"],
)
async def test_any_other_answer_is_left_to_the_python_path(monkeypatch, reply, step_for):
    (native, native_calls), (python, python_calls) = await both_paths(monkeypatch, reply, step_for)
    assert native == python
    assert native_calls == python_calls  # the native function declined: Python did the same work


def test_the_native_answer_refuses_classes_without_the_slots_it_uses():
    class Bare:
        __slots__ = ()

    classes = (Bare,) * 7
    with pytest.raises(ValueError, match="is not a slot"):
        pipeline._codec.WholeAnswer(classes, {}, {}, {}, object(), print, print)
