"""aigw-otel: one span per request with gen_ai.* attributes, a child per upstream attempt,
the caller's trace continued, and spans that reach an OTLP/HTTP receiver as protobuf."""

from __future__ import annotations

import asyncio
import contextlib
from importlib.metadata import entry_points

import aigw_otel
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from universal_ws_helpers import answer, connect, create, step

from aigw.testing.plugins import register_plugin

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


def otel_plugin():
    """The plugin as the gateway loads it: through its installed entry point when the
    distribution is installed (as CI does), else registered inline for this test."""
    installed = any(ep.name == "otel" for ep in entry_points(group="aigw"))
    return contextlib.nullcontext() if installed else register_plugin(aigw_otel, name="otel")


@contextlib.asynccontextmanager
async def traced(gateway, **config):
    """A gateway whose requests are traced into an in-memory exporter (synchronous export)."""
    exporter = InMemorySpanExporter()
    provider, ids = aigw_otel.build_tracer_provider({}, exporter, batch=False)
    async with gateway(**config) as gw:
        gw.gateway.add_observer(aigw_otel.OtelObserver(provider.get_tracer("aigw"), ids))
        yield gw, exporter


async def send(gw, request):
    async with connect(gw) as ws:
        await ws.send(create(request))
        return await answer(ws)


async def test_a_request_is_one_span_with_gen_ai_attributes(gateway, sims):
    async with traced(gateway) as (gw, exporter):
        (msg,) = await send(gw, step("openai", "one two three", headers={"cf-aig-metadata": '{"team": "a"}'}))
    request_span, attempt_span = sorted(exporter.get_finished_spans(), key=lambda s: s.kind != SpanKind.SERVER)
    usage = msg["response"]["usage"]
    assert request_span.name == "chat gpt-4o-mini" and request_span.kind == SpanKind.SERVER
    attrs = request_span.attributes
    assert attrs["gen_ai.operation.name"] == "chat" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
    assert attrs["gen_ai.usage.input_tokens"] == usage["prompt_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == usage["completion_tokens"]
    assert attrs["aigw.log_id"] == msg["metadata"]["logId"] and attrs["aigw.metadata.team"] == "a"
    assert attempt_span.parent.span_id == request_span.context.span_id and attempt_span.kind == SpanKind.CLIENT


async def test_a_fallback_has_a_child_span_per_attempt_and_the_failed_one_is_an_error(gateway, sims):
    async with traced(gateway) as (gw, exporter):
        await send(gw, [step("openai", "x y", model="sim-fail-500", config={"maxAttempts": 2}), step("anthropic", "x y")])
    spans = exporter.get_finished_spans()
    (root,) = [s for s in spans if s.kind == SpanKind.SERVER]
    children = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time)
    assert root.attributes["gen_ai.provider.name"] == "anthropic" and root.status.status_code != StatusCode.ERROR
    assert [(c.attributes["gen_ai.provider.name"], c.attributes["aigw.step"], c.attributes["aigw.attempt"]) for c in children] == [
        ("openai", 0, 1), ("openai", 0, 2), ("anthropic", 1, 1),
    ]  # fmt: skip
    assert [c.status.status_code for c in children] == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert all(root.start_time <= c.start_time and c.end_time <= root.end_time for c in children)


async def test_attempt_spans_start_when_the_attempts_started_so_a_retry_delay_shows(gateway, sims):
    retried = {"maxAttempts": 2, "retryDelay": 300}
    async with traced(gateway) as (gw, exporter):
        await send(gw, [step("openai", "x y", model="sim-fail-500", config=retried), step("anthropic", "x y")])
    record = gw.records[-1]
    spans = exporter.get_finished_spans()
    children = sorted((s for s in spans if s.kind == SpanKind.CLIENT), key=lambda s: s.start_time)
    assert [c.start_time for c in children] == [int(a.started_at * 1e9) for a in record.attempts]
    first, second, _ = children
    assert second.start_time - first.end_time >= 300 * 1_000_000  # the back-off between the tries


async def test_a_stream_that_breaks_is_an_error_span(gateway, sims):
    async with traced(gateway) as (gw, exporter):
        await send(gw, step("openai", "breaks", stream=True, model="sim-fault-reset-after-2"))
    (root,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert root.status.status_code == StatusCode.ERROR and root.attributes["error.type"] == "stream_failed"
    assert root.attributes["http.response.status_code"] == 200


async def test_the_callers_trace_is_continued_from_cloudflare_headers(gateway, sims):
    headers = {"cf-aig-otel-trace-id": TRACE_ID, "cf-aig-otel-parent-span-id": PARENT_ID}
    async with traced(gateway) as (gw, exporter):
        await send(gw, step("openai", "x", headers=headers))
    (root,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert f"{root.context.trace_id:032x}" == TRACE_ID and f"{root.parent.span_id:016x}" == PARENT_ID


async def test_a_trace_id_without_a_parent_starts_that_trace(gateway, sims):
    async with traced(gateway) as (gw, exporter):
        await send(gw, step("openai", "x", headers={"cf-aig-otel-trace-id": TRACE_ID}))
    (root,) = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert f"{root.context.trace_id:032x}" == TRACE_ID and root.parent is None


@contextlib.asynccontextmanager
async def otlp_receiver():
    """An OTLP/HTTP traces endpoint that decodes each protobuf export it receives."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.read())
        received.append(message)
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/v1/traces", received
    finally:
        await runner.cleanup()


async def test_spans_reach_an_otlp_http_receiver_when_the_gateway_stops(gateway, sims):
    async with otlp_receiver() as (url, received):
        with otel_plugin():
            async with gateway(plugins={"otel": {"endpoint": url, "service_name": "aigw-test"}}) as gw:
                (msg,) = await send(gw, step("openai", "one two three"))
                await gw.stop()  # flushes the batch processor (off the loop)
        await asyncio.sleep(0)
    spans = [(rs, s) for req in received for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]
    names = sorted(s.name for _, s in spans)
    assert names == ["chat gpt-4o-mini", "chat gpt-4o-mini"]
    resource = {a.key: a.value.string_value for a in spans[0][0].resource.attributes}
    assert resource["service.name"] == "aigw-test"
    (root,) = [s for _, s in spans if not s.parent_span_id]
    attrs = {a.key: a.value for a in root.attributes}
    assert attrs["aigw.log_id"].string_value == msg["metadata"]["logId"]
    assert attrs["gen_ai.usage.input_tokens"].int_value == msg["response"]["usage"]["prompt_tokens"]


async def test_an_installed_but_unconfigured_plugin_exports_nothing(gateway, monkeypatch):
    """Installing the plugin changes nothing until traces are configured: no observer, so no
    exports to a collector that is not there and no shutdown waiting on one."""
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    with otel_plugin():
        async with gateway() as gw:
            assert not any(isinstance(o, aigw_otel.OtelObserver) for o in gw.gateway.observers)
