"""Requests, latency and tokens over time per provider/model, for the console's charts."""

from __future__ import annotations

import math
import time
from typing import Any

from aigw.interfaces import LogStore
from aigw.log_query import MAX_LIMIT, LogQuery

__all__ = ["MAX_RECORDS", "time_series"]

#: Most records one chart request reads (the newest window is what a chart shows).
MAX_RECORDS = 50_000


async def time_series(store: LogStore, *, window: float, bucket: float, now: float | None = None) -> dict[str, Any]:
    """`window` seconds up to `now`, cut into `bucket`-second buckets; per "provider/model"
    series: requests, errors, mean latency (ms), tokens (in + out) and cost (USD, requests
    whose cost is known) per bucket.

    Reads the store through `LogStore.query` (keyset pages, oldest first) and stops after
    MAX_RECORDS records (`truncated` says so)."""
    now = time.time() if now is None else now
    count = max(1, math.ceil(window / bucket))
    start = now - count * bucket
    series: dict[str, dict[str, list[float]]] = {}
    latency_sum: dict[str, list[float]] = {}
    seen, cursor, truncated = 0, None, False
    while True:
        page = await store.query(LogQuery(since=start, until=now + 1, order="asc", limit=min(MAX_LIMIT, 2000), cursor=cursor))
        for rec in page.records:
            index = min(count - 1, max(0, int((rec.created_at - start) // bucket)))
            key = f"{rec.provider or '-'}/{rec.model or '-'}"
            s = series.get(key)
            if s is None:
                s = series[key] = {name: [0.0] * count for name in ("requests", "errors", "latency_ms", "tokens", "cost")}
                latency_sum[key] = [0.0] * count
            s["requests"][index] += 1
            if not rec.success:
                s["errors"][index] += 1
            latency_sum[key][index] += rec.duration_ms
            s["tokens"][index] += (rec.tokens_in or 0) + (rec.tokens_out or 0)
            s["cost"][index] += getattr(rec, "cost", None) or 0.0
        seen += len(page.records)
        if page.next_cursor is None:
            break
        if seen >= MAX_RECORDS:
            truncated = True
            break
        cursor = page.next_cursor
    for key, s in series.items():
        s["latency_ms"] = [round(latency_sum[key][i] / n, 2) if n else 0.0 for i, n in enumerate(s["requests"])]
    return {"start": start, "bucket": bucket, "count": count, "series": series, "records": seen, "truncated": truncated}
