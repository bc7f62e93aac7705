"""The app `aigw serve` runs until the gateway exists: `/health` answers 200, the rest 503.

TODO(gateway): replace with the real gateway app (aigw.gateway) once it is built; `serve`
only needs an object implementing `aigw.server.App`.
"""

from __future__ import annotations

from aigw.server import HttpResponse, Request

__all__ = ["PlaceholderApp"]

_NOT_BUILT = {
    "success": False,
    "result": None,
    "messages": [],
    "errors": [{"code": 503, "message": "gateway not built yet"}],
}


class PlaceholderApp:
    """An `aigw.server.App` that proves the server is up and says the gateway is not."""

    async def http(self, request: Request) -> HttpResponse:
        """`GET /health` -> 200 `{"status": "ok"}`; anything else -> 503 with a JSON error."""
        if request.path == "/health":
            return HttpResponse.json({"status": "ok"})
        return HttpResponse.json(_NOT_BUILT, status=503)

    async def websocket(self, request: Request) -> HttpResponse:
        """Every upgrade is refused with the same 503 (there is no gateway to talk to)."""
        return HttpResponse.json(_NOT_BUILT, status=503)
