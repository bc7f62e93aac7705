"""aigw-otel: OpenTelemetry traces of every gateway request, exported over OTLP/HTTP.

One span per request (kind SERVER, named "<operation> <model>", e.g. "chat gpt-4o-mini") with
the GenAI semantic conventions' attributes (`gen_ai.operation.name`, `gen_ai.provider.name`
and the older `gen_ai.system`, `gen_ai.request.model`, `gen_ai.usage.input_tokens` /
`output_tokens`), `http.response.status_code`, `error.type` on failures, and aigw's own
(`aigw.gateway`, `aigw.surface`, `aigw.log_id`, `aigw.cache_status`, `aigw.step`, `aigw.cost`,
`aigw.metadata.<key>`); one child span (kind CLIENT) per upstream attempt, retries and
fallbacks included. The caller's trace is continued when the request carried one: Cloudflare's
`cf-aig-otel-trace-id` / `cf-aig-otel-parent-span-id`, else W3C `traceparent` (the gateway
notes them on the LogRecord, see aigw.observe.request_notes).

Spans are built after the request finished, from its LogRecord (the plugin is an aigw
Observer): start = the record's created_at, end = start + duration. An attempt's span starts
at the attempt's `started_at` (so retry back-off delays show between attempts) and lasts its
duration, kept inside the request's span; attempts stored without a start time (older aigw)
are laid end to end from the request's start.

Exporting is opt-in: the plugin exports only when `[plugins.otel]` is present in the config or
an OTLP endpoint is set in the environment (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
`OTEL_EXPORTER_OTLP_ENDPOINT`); merely installing it changes nothing (no exports to a
collector that is not there, no shutdown waiting on one).

Config (`[plugins.otel]`, every key optional):
    endpoint      OTLP/HTTP traces URL (default http://127.0.0.1:4318/v1/traces, or
                  $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
    headers       table of headers sent with each export (e.g. authorization)
    service_name  resource service.name (default "aigw")
    timeout       export timeout in seconds (default 10)

Export runs on the SDK's batch thread, never on the event loop; stop flushes what is pending.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Mapping

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

import aigw

__all__ = ["OtelObserver", "TraceIds", "build_tracer_provider", "operation_of"]

DEFAULT_ENDPOINT = "http://127.0.0.1:4318/v1/traces"
SCOPE = "aigw"


class TraceIds(RandomIdGenerator):
    """Random ids, except a trace id the caller chose for the next root span (a request that
    named its trace id but no parent span). The observer runs on the loop: no race."""

    def __init__(self) -> None:
        self.next_trace_id: int | None = None

    def generate_trace_id(self) -> int:
        forced, self.next_trace_id = self.next_trace_id, None
        return forced if forced is not None else super().generate_trace_id()


def build_tracer_provider(
    config: Mapping[str, Any], exporter: SpanExporter | None = None, *, batch: bool = True
) -> tuple[TracerProvider, TraceIds]:
    """A TracerProvider exporting to `exporter` (default: OTLP/HTTP per `config`), in batches
    on the SDK's thread (batch=False: at once, on the caller's thread; for tests)."""
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        endpoint = str(
            config.get("endpoint")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or (base.rstrip("/") + "/v1/traces" if base else DEFAULT_ENDPOINT)
        )
        headers = {str(k): str(v) for k, v in dict(config.get("headers") or {}).items()}
        exporter = OTLPSpanExporter(endpoint=endpoint, headers=headers, timeout=float(config.get("timeout", 10)))
    ids = TraceIds()
    provider = TracerProvider(resource=Resource.create({"service.name": str(config.get("service_name", "aigw"))}), id_generator=ids)
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider, ids


def operation_of(endpoint: str | None) -> str:
    """The GenAI operation name an endpoint performs (gen_ai.operation.name)."""
    e = (endpoint or "").lower()
    if "embed" in e:
        return "embeddings"
    if "generatecontent" in e:
        return "generate_content"
    if e.endswith("completions") and "chat" not in e:
        return "text_completion"
    return "chat"


class OtelObserver:
    """An aigw Observer turning each finished request's LogRecord into spans."""

    def __init__(self, tracer: trace.Tracer, ids: TraceIds | None = None) -> None:
        self.tracer = tracer
        self.ids = ids

    def observe(self, record: Any) -> None:
        """Emit the request's span and its attempts' child spans (ended at once)."""
        start = int(record.created_at * 1e9)
        end = start + int(record.duration_ms * 1e6)
        context = None
        if record.trace_id and record.parent_span_id:
            parent = SpanContext(int(record.trace_id, 16), int(record.parent_span_id, 16), is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
            context = trace.set_span_in_context(NonRecordingSpan(parent))
        elif record.trace_id and self.ids is not None:
            self.ids.next_trace_id = int(record.trace_id, 16)
        operation = operation_of(record.endpoint)
        name = f"{operation} {record.model}" if record.model else operation
        span = self.tracer.start_span(name, context=context, kind=SpanKind.SERVER, start_time=start, attributes=_request_attributes(record, operation))
        if not record.success:
            span.set_status(Status(StatusCode.ERROR, (record.error or "")[:256]))
        child_context = trace.set_span_in_context(span)
        at = start
        for attempt in record.attempts:
            began = getattr(attempt, "started_at", None)
            if began is not None:
                at = min(max(int(began * 1e9), start), end)  # clocks agree; clamp anyway
            a_end = min(at + int(attempt.duration_ms * 1e6), max(end, at))
            child = self.tracer.start_span(
                f"{operation} {attempt.model}" if attempt.model else operation,
                context=child_context,
                kind=SpanKind.CLIENT,
                start_time=at,
                attributes=_attempt_attributes(attempt, operation),
            )
            if attempt.error is not None:
                child.set_status(Status(StatusCode.ERROR, attempt.error[:256]))
            child.end(end_time=a_end)
            at = a_end
        span.end(end_time=end)


def _request_attributes(r: Any, operation: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "aigw.gateway": r.gateway,
        "aigw.surface": r.request_type,
        "aigw.log_id": r.log_id,
        "aigw.cache_status": r.cache_status,
        "aigw.stream": r.stream,
        "http.response.status_code": r.status,
    }
    for key, value in (
        ("gen_ai.provider.name", r.provider), ("gen_ai.system", r.provider), ("gen_ai.request.model", r.model),
        ("gen_ai.usage.input_tokens", r.tokens_in), ("gen_ai.usage.output_tokens", r.tokens_out),
        ("aigw.step", r.step), ("aigw.cost", r.cost), ("aigw.event_id", r.event_id), ("aigw.ttfb_ms", r.ttfb_ms),
    ):  # fmt: skip
        if value is not None:
            attrs[key] = value
    if not r.success:
        attrs["error.type"] = "cancelled" if r.cancelled else str(r.status) if r.status >= 400 else "stream_failed"
    for key, value in (r.metadata or {}).items():
        attrs[f"aigw.metadata.{key}"] = value
    return attrs


def _attempt_attributes(a: Any, operation: str) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": a.provider,
        "gen_ai.system": a.provider,
        "aigw.step": a.step,
        "aigw.attempt": a.attempt,
    }
    if a.model:
        attrs["gen_ai.request.model"] = a.model
    if a.status:
        attrs["http.response.status_code"] = a.status
    if a.error is not None:
        attrs["error.type"] = str(a.status) if a.status >= 400 else "upstream_failed"
    return attrs


_providers: dict[int, TracerProvider] = {}


@aigw.hookimpl
def gateway_startup(gateway: Any) -> None:
    """Build the exporter from `[plugins.otel]` and observe every request of this gateway
    (only when traces are configured: see the module docstring)."""
    config = gateway.settings.plugin_config.get("otel")
    if config is None and not (os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")):
        return
    provider, ids = build_tracer_provider(config or {})
    _providers[id(gateway)] = provider
    gateway.add_observer(OtelObserver(provider.get_tracer(SCOPE), ids))


@aigw.hookimpl
async def gateway_shutdown(gateway: Any) -> None:
    """Export what is pending and stop the batch thread (off the loop: it blocks)."""
    provider = _providers.pop(id(gateway), None)
    if provider is not None:
        await asyncio.to_thread(provider.shutdown)
