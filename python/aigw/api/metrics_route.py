"""`GET /metrics`: the Prometheus exposition of `aigw.observe.metrics.GatewayMetrics`.

Two ways to serve it (`[metrics] listen`): a route on the main port, authenticated like every
non-public route (a token that opens the `default` gateway), or a listener of its own that
answers only `GET /metrics`, without authentication, for a scraper on a private network.
"""

from __future__ import annotations

from typing import Any, Mapping

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from aigw.protocol.http11 import HttpResponse, Request

__all__ = ["METRICS_PATH", "MetricsApp", "metrics_route", "render"]

METRICS_PATH = "/metrics"


def render(registry: Any) -> HttpResponse:
    """The exposition (text format 0.0.4) of every collector in `registry`, read now."""
    return HttpResponse(200, generate_latest(registry), [("content-type", CONTENT_TYPE_LATEST), ("cache-control", "no-store")])


def metrics_route(registry: Any) -> Any:
    """The router handler of `GET /metrics` on the main port."""

    async def handler(request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        return render(registry)

    return handler


class MetricsApp:
    """The app of the separate metrics listener: `GET /metrics`, nothing else (404/405)."""

    def __init__(self, registry: Any) -> None:
        self.registry = registry

    async def http(self, request: Request) -> HttpResponse:
        """`GET /metrics` (also HEAD-less GET with a trailing slash) → exposition."""
        if request.path.rstrip("/") != METRICS_PATH:
            return HttpResponse(404, b"not found\n", content_type="text/plain")
        if request.method != "GET":
            return HttpResponse(405, b"method not allowed\n", [("allow", "GET")], content_type="text/plain")
        return render(self.registry)

    async def websocket(self, request: Request) -> HttpResponse:
        """No WebSocket here."""
        return HttpResponse(404, b"not found\n", content_type="text/plain")
