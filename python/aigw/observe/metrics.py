"""Prometheus metrics of every finished request, kept cheap enough to stay on.

The request path (`GatewayMetrics.observe`, an Observer) does one dict look-up on the
request's label tuple and one native call that counts the record (`_codec.MetricSeries`,
rust/src/metrics.rs): no prometheus_client call, no lock (everything runs on the event loop),
no allocation once a label set has been seen (benches/micro/test_observe.py). prometheus_client
renders the exposition at scrape time from those numbers (`collect`), together with what is
read only then: upstream pools, log backlogs, open connections, and the process collectors.

Names follow the OpenTelemetry GenAI semantic conventions where they exist
(`gen_ai.server.request.duration` → `gen_ai_server_request_duration_seconds`,
`gen_ai.server.time_to_first_token`, `gen_ai.client.token.usage` with `gen_ai_token_type`),
with the conventions' bucket boundaries; the rest are `aigw_*`. Every per-request metric has
the labels gateway, surface (the record's request_type), provider, model, status, success
(a stream that broke after its 200 is status="200", success="false") and cache_status. The model is the client's text, so label sets are capped (`max_series`): past
the cap a new model is counted as model="other".
"""

from __future__ import annotations

import weakref
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from aigw._codec import MetricSeries, RecordObservers
from aigw.types import LogRecord

__all__ = ["DURATION_BOUNDS", "TOKEN_BOUNDS", "TTFT_BOUNDS", "GatewayMetrics", "ScrapeSources"]

#: gen_ai.server.request.duration (seconds), as the GenAI conventions recommend.
DURATION_BOUNDS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
#: gen_ai.server.time_to_first_token (seconds).
TTFT_BOUNDS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
#: gen_ai.client.token.usage ({token}).
TOKEN_BOUNDS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)

LABELS = ("gateway", "surface", "provider", "model", "status", "success", "cache_status")
OTHER_MODEL = "other"


def _buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, int]]:
    """Cumulative (le, count) pairs of a histogram's bucket counts, +Inf last."""
    out, running = [], 0
    for bound, count in zip((*bounds, float("inf")), counts):
        running += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
    return out


class ScrapeSources:
    """What is read at scrape time only (each a callable, so the gateway owns its state)."""

    def __init__(
        self,
        upstream: Callable[[], Mapping[str, tuple[int, int, int]]] = dict,
        loggers: Callable[[], Iterable[Any]] = tuple,
        connections: Callable[[], Iterable[Any]] = tuple,
        websocket_type: type | None = None,
    ) -> None:
        self.upstream = upstream  # UpstreamClient.stats: origin -> (open, idle, waiting)
        self.loggers = loggers  # loggers with `.stats` (BatcherStats)
        self.connections = connections  # the server's open connections
        self.websocket_type = websocket_type


#: The observers' native half, reading LogRecords from their slots.
_RECORDS = RecordObservers(LogRecord)


class GatewayMetrics:
    """An Observer counting every finished request, and the prometheus_client collector that
    exposes the counts (`registry` holds it plus the process, platform and GC collectors)."""

    def __init__(self, sources: ScrapeSources | None = None, *, max_series: int = 10_000) -> None:
        self.sources = sources or ScrapeSources()
        self.max_series = max_series
        self._series: dict[tuple, MetricSeries] = {}
        #: `observe(record)` counts one finished request (its cost must already be set, see
        #: CostMeter). One native call, no Python frame: the label key (gateway,
        #: request_type, provider, model, status, success, cache_status), its series in
        #: _series (else _new_series(key), held weakly: no cycle through the native function),
        #: the counting.
        self.observe = _RECORDS.series_observer(self._series, weakref.WeakMethod(self._new_series))
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    # ---- the request path -------------------------------------------------------------------

    def _new_series(self, key: tuple) -> MetricSeries:
        labels = tuple("" if v is None else ("true" if v else "false") if isinstance(v, bool) else str(v) for v in key)
        if len(self._series) >= self.max_series:
            capped = (*key[:3], OTHER_MODEL, *key[4:])
            found = self._series.get(capped)
            if found is not None:
                return found  # not memoized under `key`: memory stays bounded
            labels = (*labels[:3], OTHER_MODEL, *labels[4:])
            key = capped
        series = self._series[key] = MetricSeries(labels, DURATION_BOUNDS, TTFT_BOUNDS, TOKEN_BOUNDS)
        return series

    # ---- scrape time (prometheus_client Collector) -------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Every metric family, built from the counts now (called by the registry per scrape)."""
        series = list(self._series.values())
        requests = CounterMetricFamily("aigw_requests", "Finished requests.", labels=LABELS)
        duration = HistogramMetricFamily(
            "gen_ai_server_request_duration_seconds", "Request duration, first byte in to last byte out.", labels=LABELS
        )
        ttft = HistogramMetricFamily(
            "gen_ai_server_time_to_first_token_seconds", "Streamed requests: time to the upstream's first byte.", labels=LABELS
        )
        usage = HistogramMetricFamily("gen_ai_client_token_usage", "Tokens per request, by gen_ai_token_type.", labels=(*LABELS, "gen_ai_token_type"))
        tokens = CounterMetricFamily("aigw_tokens", "Tokens reported by providers, by type.", labels=(*LABELS, "type"))
        cost = CounterMetricFamily("aigw_cost_usd", "Estimated cost in USD (requests of unknown cost add nothing).", labels=LABELS)
        retries = CounterMetricFamily("aigw_retries", "Upstream attempts that retried a step.", labels=LABELS)
        fallbacks = CounterMetricFamily("aigw_fallbacks", "Steps tried after the first one.", labels=LABELS)
        hits: dict[tuple[str, ...], int] = {}
        limited: dict[tuple[str, str], int] = {}
        for s in series:
            labels = list(s.labels)
            requests.add_metric(labels, s.requests)
            counts, total = s.duration
            duration.add_metric(labels, _buckets(DURATION_BOUNDS, counts), total)
            counts, total = s.ttft
            if any(counts):
                ttft.add_metric(labels, _buckets(TTFT_BOUNDS, counts), total)
            for kind, (counts, total) in (("input", s.tokens_in), ("output", s.tokens_out)):
                if any(counts):
                    usage.add_metric([*labels, kind], _buckets(TOKEN_BOUNDS, counts), total)
                    tokens.add_metric([*labels, kind], total)
            cost.add_metric(labels, s.cost)
            if s.retries:
                retries.add_metric(labels, s.retries)
            if s.fallbacks:
                fallbacks.add_metric(labels, s.fallbacks)
            if s.labels[6] == "HIT":
                k = s.labels[:4]
                hits[k] = hits.get(k, 0) + s.requests
            if s.rate_limited:
                k2 = (s.labels[0], s.labels[1])
                limited[k2] = limited.get(k2, 0) + s.rate_limited
        cache_hits = CounterMetricFamily("aigw_cache_hits", "Requests answered from the cache.", labels=LABELS[:4])
        for k, n in hits.items():
            cache_hits.add_metric(list(k), n)
        rate_limited = CounterMetricFamily("aigw_rate_limited", "Requests refused by the gateway's rate limit.", labels=("gateway", "surface"))
        for k2, n in limited.items():
            rate_limited.add_metric(list(k2), n)
        yield from (requests, duration, ttft, usage, tokens, cost, retries, fallbacks, cache_hits, rate_limited)
        yield from self._scrape_time()

    def _scrape_time(self) -> Iterator[Metric]:
        src = self.sources
        pool_open = GaugeMetricFamily("aigw_upstream_connections", "Upstream connections by origin and state.", labels=("origin", "state"))
        waiting = GaugeMetricFamily("aigw_upstream_waiting_requests", "Requests waiting for an upstream connection.", labels=("origin",))
        for origin, (size, idle, waiters) in src.upstream().items():
            pool_open.add_metric([origin, "in_use"], size - idle)
            pool_open.add_metric([origin, "idle"], idle)
            waiting.add_metric([origin], waiters)
        backlog = GaugeMetricFamily("aigw_log_backlog_records", "Accepted log records not yet stored.", labels=("logger",))
        dropped = CounterMetricFamily("aigw_log_dropped_records", "Log records refused (backlog full).", labels=("logger",))
        for logger in src.loggers():
            stats = getattr(logger, "stats", None)
            if stats is None:
                continue
            name = str(getattr(logger, "name", type(logger).__name__))
            backlog.add_metric([name], max(0, stats.accepted - stats.written - stats.failed))
            dropped.add_metric([name], stats.dropped)
        websockets = ws_in_flight = http_in_flight = 0
        for conn in src.connections():
            if src.websocket_type is not None and isinstance(conn, src.websocket_type):
                websockets += 1
                ws_in_flight += conn.in_flight
            elif not getattr(conn, "idle", True):
                http_in_flight += 1
        open_ws = GaugeMetricFamily("aigw_websocket_connections", "Open WebSocket connections.")
        open_ws.add_metric([], websockets)
        busy = GaugeMetricFamily("aigw_requests_in_flight", "Requests being answered, by transport.", labels=("transport",))
        busy.add_metric(["http"], http_in_flight)  # HTTP requests (one per busy connection)
        busy.add_metric(["websocket"], ws_in_flight)  # requests running on WebSocket sessions
        yield from (pool_open, waiting, backlog, dropped, open_ws, busy)
