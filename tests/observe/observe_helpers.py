"""Helpers of the observability tests: send known traffic, scrape and parse /metrics."""

from __future__ import annotations

from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from universal_ws_helpers import answer, connect, create


async def send(gw: Any, request: Any, **kw: Any) -> list[dict]:
    """One Universal request over a fresh WebSocket; every message of its answer."""
    async with connect(gw, **kw) as ws:
        await ws.send(create(request))
        return await answer(ws)


def http_base(gw: Any) -> str:
    return f"http://127.0.0.1:{gw.port}"


async def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, list[Any]]:
    """GET `url` and parse the exposition: metric sample name → samples."""
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers or {}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["content-type"].startswith("text/plain; version=")
        text = await resp.text()
    samples: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def total(samples: dict[str, list[Any]], name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(s.value for s in samples.get(name, []) if all(s.labels.get(k) == v for k, v in labels.items()))
