"""The always-on observers' cost per request (issue 13 target: <= 2 µs): the cost meter plus
the Prometheus counters, on a typical finished request (a priced model, a stream with usage,
one attempt) and on a request that retried and fell back.

    python -m pytest benches/micro/test_observe.py --benchmark-columns=median,ops
"""

from __future__ import annotations

from aigw.config import CostsSettings
from aigw.observe.costs import CostMeter, PriceTable
from aigw.observe.metrics import GatewayMetrics
from aigw.types import Attempt, LogRecord


def _record(attempts: list[Attempt]) -> LogRecord:
    return LogRecord(
        log_id="0192f1a0-0000-7000-8000-000000000000", created_at=0.0, gateway="default", request_type="websocket",
        provider="openai", model="gpt-4o-mini", status=200, success=True, step=attempts[-1].step, stream=True,
        duration_ms=412.5, ttfb_ms=88.0, tokens_in=1200, tokens_out=350, attempts=attempts,
    )  # fmt: skip


def _observe_all(benchmark, record: LogRecord, op: str) -> None:
    observers = (CostMeter(PriceTable.from_settings(CostsSettings())), GatewayMetrics())

    def observe() -> None:
        for observer in observers:
            observer.observe(record)

    observe()  # the label set is seen once before timing, as on a running gateway
    benchmark.extra_info.update(impl="aigw", op=op, size="1 request", frames=1, payload_bytes=0)
    benchmark(observe)


def test_observe_a_streamed_request(benchmark):
    _observe_all(benchmark, _record([Attempt(0, 1, "openai", "gpt-4o-mini", 200)]), "observe")


def test_observe_a_request_that_retried_and_fell_back(benchmark):
    attempts = [Attempt(0, 1, "openai", "gpt-4o-mini", 500), Attempt(0, 2, "openai", "gpt-4o-mini", 500), Attempt(1, 1, "openai", "gpt-4o-mini", 200)]
    _observe_all(benchmark, _record(attempts), "observe (retry + fallback)")
