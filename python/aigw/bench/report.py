"""The results of `aigw bench`: one summary per run, a table, `--compare` ratios, JSON."""

from __future__ import annotations

import math
from typing import Any, Sequence

from aigw.bench.workload import Recorder

__all__ = ["percentile", "progress_line", "rate_per_second", "render_compare", "render_table", "summarize"]


def percentile(samples: Sequence[float], q: float) -> float | None:
    """The `q`-th percentile (0-100) of `samples` by nearest rank, None when empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[rank]


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def rate_per_second(finished_at: Sequence[float], seconds: float) -> list[int]:
    """Requests finished in each 1 s bucket from the start ([0, 1), [1, 2), ...), covering
    `seconds` (and any finish after it): the buckets sum to the requests finished."""
    buckets = [0] * max(1, math.ceil(seconds))
    for t in finished_at:
        i = max(0, int(t))
        if i >= len(buckets):
            buckets.extend([0] * (i + 1 - len(buckets)))
        buckets[i] += 1
    return buckets


def summarize(
    rec: Recorder,
    *,
    gateway_cpu_s: float | None = None,
    upstream_requests: int | None = None,
    client_cpu_s: float | None = None,
) -> dict[str, Any]:
    """One run as plain data (what `--json` prints): counts, rates, latency percentiles in ms,
    time to first chunk for streams, errors by kind, gateway and client CPU per request, and
    the requests finished per 1 s bucket (`rate_per_s`).

    `client_cpu_s` is the bench process's own CPU over the run (`time.process_time()`); with a
    gateway running in the same process (tests) it includes the gateway's."""
    wl = rec.workload
    elapsed = rec.elapsed
    finished = rec.finished
    out: dict[str, Any] = {
        "surface": wl.surface,
        "concurrency": wl.concurrency,
        "stream": wl.stream,
        "prompt_words": wl.prompt_words,
        "max_tokens": wl.max_tokens,
        "seconds": round(elapsed, 3),
        "requests": finished,
        "ok": rec.ok,
        "errors": sum(rec.errors.values()),
        "errors_by_kind": dict(rec.errors),
        # Successful requests only: a fast stream of errors is not throughput.
        "requests_per_s": round(rec.ok / elapsed, 1) if elapsed > 0 else None,
        "latency_ms": {f"p{q}": _ms(percentile(rec.latencies, q)) for q in (50, 90, 99)},
        "ttft_ms": {f"p{q}": _ms(percentile(rec.ttfts, q)) for q in (50, 90, 99)} if wl.stream else None,
        "chunks": rec.chunks,
        "chunks_per_s": round(rec.chunks / elapsed, 1) if elapsed > 0 and wl.stream else None,
        "gateway_cpu_us_per_request": None,
        "client_cpu_us_per_request": None,
        "upstream_requests": upstream_requests,
        "rate_per_s": rate_per_second(rec.finished_at, elapsed),
    }
    if gateway_cpu_s is not None and finished:
        out["gateway_cpu_s"] = round(gateway_cpu_s, 3)
        out["gateway_cpu_us_per_request"] = round(gateway_cpu_s / finished * 1e6, 1)
    if client_cpu_s is not None:
        out["client_cpu_s"] = round(client_cpu_s, 3)
        if finished:
            out["client_cpu_us_per_request"] = round(client_cpu_s / finished * 1e6, 1)
    return out


def progress_line(rec: Recorder, last: tuple[float, int]) -> str:
    """One refreshable status line: elapsed, done, current rate, p50 so far, errors."""
    now, done = rec.elapsed, rec.finished
    window = now - last[0]
    rate = (done - last[1]) / window if window > 0 else 0.0
    budget = f"/{rec.workload.requests}" if rec.workload.requests else ""
    p50 = percentile(rec.latencies[-2000:], 50)
    p50_text = f"{p50 * 1000:7.2f} ms" if p50 is not None else "      - ms"
    errors = sum(rec.errors.values())
    return f"{rec.workload.surface:<8} {now:6.1f} s  {done:>8}{budget} req  {rate:9.0f} req/s  p50 {p50_text}  errors {errors}"


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


ROWS: list[tuple[str, Any]] = [
    ("requests", lambda r: _fmt(r["requests"])),
    ("ok requests/s", lambda r: _fmt(r["requests_per_s"], 1)),
    ("latency p50 (ms)", lambda r: _fmt(r["latency_ms"]["p50"])),
    ("latency p90 (ms)", lambda r: _fmt(r["latency_ms"]["p90"])),
    ("latency p99 (ms)", lambda r: _fmt(r["latency_ms"]["p99"])),
    ("first chunk p50 (ms)", lambda r: _fmt((r["ttft_ms"] or {}).get("p50"))),
    ("first chunk p99 (ms)", lambda r: _fmt((r["ttft_ms"] or {}).get("p99"))),
    ("chunks/s", lambda r: _fmt(r["chunks_per_s"], 0)),
    ("errors", lambda r: _fmt(r["errors"]) + ("" if not r["errors_by_kind"] else "  " + ", ".join(f"{k}: {v}" for k, v in sorted(r["errors_by_kind"].items())))),
    ("gateway CPU / request (µs)", lambda r: _fmt(r["gateway_cpu_us_per_request"], 1)),
    ("client CPU / request (µs)", lambda r: _fmt(r.get("client_cpu_us_per_request"), 1)),
    ("upstream saw", lambda r: _fmt(r["upstream_requests"])),
]


def render_table(results: Sequence[dict[str, Any]]) -> str:
    """One column per run, one row per figure."""
    header = ["", *(r["surface"] for r in results)]
    rows = [header] + [[name, *(cell(r) for r in results)] for name, cell in ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = []
    for n, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratios(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Each run against the first: throughput ×, p50 latency ×, gateway CPU per request ×."""
    base = results[0]
    out: dict[str, dict[str, float | None]] = {}

    def ratio(a: Any, b: Any) -> float | None:
        return round(a / b, 2) if a and b else None

    for r in results[1:]:
        out[r["surface"]] = {
            "requests_per_s": ratio(base["requests_per_s"], r["requests_per_s"]),
            "latency_p50": ratio(r["latency_ms"]["p50"], base["latency_ms"]["p50"]),
            "gateway_cpu_per_request": ratio(r["gateway_cpu_us_per_request"], base["gateway_cpu_us_per_request"]),
        }
    return out


def _times(value: float, better: str, worse: str) -> str:
    return f"{value:.2f}x {better}" if value >= 1 else f"{1 / value:.2f}x {worse}"


def render_compare(results: Sequence[dict[str, Any]]) -> str:
    """Sentences: how the first surface does against each other one."""
    base = results[0]["surface"]
    lines = []
    for surface, r in ratios(results).items():
        parts = []
        if r["requests_per_s"] is not None:
            parts.append(_times(r["requests_per_s"], "the requests/s", "fewer requests/s"))
        if r["latency_p50"] is not None:
            parts.append(_times(r["latency_p50"], "lower p50 latency", "higher p50 latency"))
        if r["gateway_cpu_per_request"] is not None:
            parts.append(_times(r["gateway_cpu_per_request"], "less gateway CPU per request", "more gateway CPU per request"))
        lines.append(f"{base} vs {surface}: " + (", ".join(parts) if parts else "no comparable figures"))
    return "\n".join(lines)
