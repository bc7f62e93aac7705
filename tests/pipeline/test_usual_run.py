"""`run` sets up a request that names no option natively (`pipeline._usual_run`,
rust/src/python/usual_run.rs), with the same log record and outcome as its Python set-up,
which takes every other request."""

from __future__ import annotations

import dataclasses

import pytest

from aigw import pipeline
from aigw.pipeline import GatewayPolicy, GatewayRequest
from aigw.validation import CheckedHeaders

from pipeline_fakes import FakeClient, RecordingSink, Reply, openai_body, openai_step, runtime

#: What differs between two runs of the same request whichever path sets it up.
_PER_RUN = {"log_id", "created_at", "duration_ms", "ttfb_ms", "attempts"}


def door_step(headers: dict[str, str], body: bytes | None = None):
    step = openai_step()
    step.headers = CheckedHeaders(headers)
    if body is not None:
        step.body = body
    return step


async def both_paths(monkeypatch, make_request, gw: GatewayPolicy):
    """The record and sink of the request run natively set up, then by the Python set-up
    (which runs first: it teaches the memos the content type)."""
    outcomes = []
    for native in (False, True):
        rt = runtime(FakeClient(openai=[Reply(body=openai_body())]))
        sink = RecordingSink()
        with monkeypatch.context() as m:
            calls = []
            real = pipeline._usual_run

            def counted(*args, _native=native):
                made = real(*args) if _native else None
                calls.append(made is not None)
                return made

            m.setattr(pipeline, "_usual_run", counted)
            record = await pipeline.run(rt, gw, make_request(), sink)
        fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record) if f.name not in _PER_RUN}
        outcomes.append((fields, sink.delivered[1] if sink.delivered else None, calls))
    return outcomes


def request(*steps, headers=None) -> GatewayRequest:
    return GatewayRequest("default", "websocket", "e1", list(steps), headers or {})


@pytest.mark.parametrize(
    "make_request",
    [
        lambda: request(openai_step()),
        lambda: request(door_step({"content-type": "application/json; charset=utf-8"})),
        lambda: request(door_step({"content-type": "audio/wav"}, body=b"RIFF....WAVE")),
        lambda: GatewayRequest("default", "provider", "e1", [door_step({"content-type": "application/json"})], CheckedHeaders()),
    ],
    ids=["no headers", "a door's JSON", "a door's audio (logged by size)", "a door's empty options"],
)
@pytest.mark.parametrize("collect", [True, False], ids=["logs collected", "logs off"])
async def test_the_usual_request_is_set_up_natively_as_python_would(monkeypatch, make_request, collect):
    (python, python_body, python_calls), (native, native_body, native_calls) = await both_paths(
        monkeypatch, make_request, GatewayPolicy("default", collect_logs=collect)
    )
    assert native == python and native_body == python_body
    assert (python_calls, native_calls) == ([False], [True])


@pytest.mark.parametrize(
    "req",
    [
        request(openai_step(headers={"cf-aig-metadata": '{"a": 1}'})),  # a client's step headers
        request(openai_step(), headers={"cf-aig-collect-log": "false"}),  # request-level options
        GatewayRequest("default", "provider", "e1", [door_step({})], CheckedHeaders({"cf-aig-metadata": "{}"})),
        GatewayRequest("default", "websocket", "e1", [], {}),
    ],
    ids=["step options", "request options", "a door's options", "no steps"],
)
def test_a_request_with_options_is_set_up_by_python(req):
    rt = runtime(FakeClient(openai=[Reply()]))
    assert pipeline._usual_run(rt, GatewayPolicy("default"), req, RecordingSink()) is None


def test_a_content_type_the_memos_have_not_met_is_set_up_by_python():
    rt = runtime(FakeClient(openai=[Reply()]))
    req = request(door_step({"content-type": "application/x-never-seen-before"}))
    assert pipeline._usual_run(rt, GatewayPolicy("default"), req, RecordingSink()) is None


def test_the_native_start_refuses_classes_without_the_slots_it_uses():
    class Bare:
        __slots__ = ()

    with pytest.raises(ValueError, match="is not a slot"):
        pipeline._codec.UsualRun((Bare,) * 4, CheckedHeaders, {}, {}, print, print, print, print, print, pipeline._USUAL_MAIN)
