"""`aigw bench`: measure a gateway under a workload, on the user's own machine.

* `upstream` — a fast simulated OpenAI chat upstream (raw asyncio protocol, keep-alive) that
  counts what it answered, so that the gateway, not the upstream, is what gets measured;
* `target` — where the load goes: a simulated setup (that upstream plus an `aigw serve`
  subprocess whose CPU is measured) or a real gateway / OpenAI-compatible URL;
* `workload` — the load drivers, one per surface: `ws` (one Universal WebSocket carrying
  every request), `http` (keep-alive connections) and `http-new` (a new TCP (+TLS) connection
  per request), closed loop at a fixed concurrency;
* `report` — percentiles, requests per 1 s bucket, the result table, `--compare` ratios, JSON;
* `progress` — the live progress (a `rich` bar on a terminal, a plain line per run otherwise);
* `chart` — the `--png` report (matplotlib, imported only when drawing).
"""

from __future__ import annotations

SURFACES = ("ws", "http", "http-new")

__all__ = ["SURFACES"]
