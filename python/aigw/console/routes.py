"""The console's routes: its page and static files (public), its JSON API and live log.

    GET /ui                      the page (public: it holds no data; the login form asks for a token)
    GET /ui/static/{name}        its CSS and JavaScript modules (public)
    GET /ui/api/info             gateways and configured providers (the playground's choices)
    GET /ui/api/logs             newest log rows first (?limit, ?cursor, ?provider, ?model, ?success)
    GET /ui/api/logs/{log_id}    one request in full: bodies, attempts, tokens, duration
    GET /ui/api/stats            requests, latency, tokens per provider/model (?window, ?bucket seconds)
    WEBSOCKET /ui/api/live       new log rows pushed as they are stored (aigw.console.live)

The API routes are ordinary authenticated routes: they have no ``{gateway}``, so the front door
checks the token against the `default` gateway (`cf-aig-authorization: Bearer`, or on the
WebSocket the ``cf-aig-authorization.<token>`` subprotocol next to ``aigw.console.v1``).
Every answer carries a strict Content-Security-Policy: the page loads nothing from elsewhere.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING, Any, Mapping
from urllib.parse import parse_qs

from aigw.api.gateway_context import AUTH_SUBPROTOCOL
from aigw.api.router import BUILTIN, WEBSOCKET, Router
from aigw.api.universal_messages import error_body
from aigw.console.live import LiveLogs, start_after
from aigw.console.rows import detail, row
from aigw.console.stats import time_series
from aigw.errors import BadRequest, GatewayNotFound
from aigw.log_query import MAX_CURSOR_CHARS, LogQuery
from aigw.protocol.http11 import HttpResponse, Request

if TYPE_CHECKING:
    from aigw.gateway import Gateway

__all__ = ["STATIC_TYPES", "add_console_routes"]

STATIC_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = [
    ("content-security-policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     "connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-cache"),
]  # fmt: skip
NO_LOG_STORE = 404


def _load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of the package's `static/` directory, read once at start-up."""
    files: dict[str, tuple[bytes, str]] = {}
    for entry in (resources.files("aigw.console") / "static").iterdir():
        suffix = "." + entry.name.rsplit(".", 1)[-1]
        if entry.is_file() and suffix in STATIC_TYPES:
            files[entry.name] = (entry.read_bytes(), STATIC_TYPES[suffix])
    return files


def _error(status: int, code: int, message: str) -> HttpResponse:
    return HttpResponse.json(error_body(code, message), status=status, headers=SECURITY_HEADERS)


def _json(doc: Any) -> HttpResponse:
    return HttpResponse.json(doc, headers=SECURITY_HEADERS)


def _params(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.query).items()}


def _number(params: Mapping[str, str], name: str, default: float, lo: float, hi: float) -> float:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a number from {lo:g} to {hi:g}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be a number from {lo:g} to {hi:g}")
    return value


class ConsoleRoutes:
    """The handlers, bound to one gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.static = _load_static()

    def _store(self) -> Any:
        return self.gateway.log_store

    async def page(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """The console's single page."""
        body, kind = self.static["index.html"]
        return HttpResponse(200, body, SECURITY_HEADERS, content_type=kind)

    async def static_file(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """One file of `static/` by name (no sub-directories, nothing outside it)."""
        found = self.static.get(params["name"])
        if found is None:
            return _error(404, GatewayNotFound.code, f"no console file {params['name']!r}")
        return HttpResponse(200, found[0], SECURITY_HEADERS, content_type=found[1])

    async def info(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """Gateways (with the account id they require, if any), configured providers, and
        whether logs can be read."""
        settings = self.gateway.settings
        return _json(
            {
                "gateways": [{"name": n, "account_id": g.account_id or None} for n, g in sorted(settings.gateways.items())],
                "providers": sorted(settings.providers),
                "log_store": self._store() is not None,
                "principal": ctx.principal.name if ctx is not None and ctx.principal is not None else None,
            }
        )

    async def logs(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """A page of log rows, newest first; `next_cursor` continues it."""
        store = self._store()
        if store is None:
            return _error(NO_LOG_STORE, GatewayNotFound.code, "no queryable log store is configured ([logs] stores)")
        q = _params(request)
        try:
            limit = int(_number(q, "limit", 50, 1, 500))
            cursor = q.get("cursor") or None
            if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
                raise BadRequest("cursor must be a log id from a previous page")
            success = {"true": True, "false": False}.get(q.get("success", ""), None)
        except BadRequest as exc:
            return _error(400, exc.code, exc.message)
        page = await store.query(
            LogQuery(provider=q.get("provider") or None, model=q.get("model") or None, success=success, limit=limit, cursor=cursor)
        )
        return _json({"rows": [row(r) for r in page.records], "next_cursor": page.next_cursor})

    async def log(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """One request in full."""
        store = self._store()
        if store is None:
            return _error(NO_LOG_STORE, GatewayNotFound.code, "no queryable log store is configured ([logs] stores)")
        log_id = params["log_id"]
        record = await store.get(log_id) if len(log_id) <= MAX_CURSOR_CHARS else None
        if record is None:
            return _error(404, GatewayNotFound.code, f"no log {log_id!r}")
        return _json(detail(record))

    async def stats(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """Time series for the charts (`window` 60 s to 7 days, `bucket` 1 s to 1 day, at most
        500 buckets)."""
        store = self._store()
        if store is None:
            return _error(NO_LOG_STORE, GatewayNotFound.code, "no queryable log store is configured ([logs] stores)")
        q = _params(request)
        try:
            window = _number(q, "window", 3600, 60, 7 * 86400)
            bucket = _number(q, "bucket", 60, 1, 86400)
            if window / bucket > 500:
                raise BadRequest("window / bucket must be at most 500 buckets")
        except BadRequest as exc:
            return _error(400, exc.code, exc.message)
        return _json(await time_series(store, window=window, bucket=bucket))

    async def live(self, request: Request, params: Mapping[str, str], ctx: Any) -> Any:
        """The live log WebSocket."""
        store = self._store()
        if store is None:
            return _error(NO_LOG_STORE, GatewayNotFound.code, "no queryable log store is configured ([logs] stores)")
        # Never echo the token: select the other offered subprotocol (docs/websocket-api.md).
        subprotocol = next((p for p in request.subprotocols if not p.startswith(AUTH_SUBPROTOCOL)), None)
        return LiveLogs(store, after=start_after(request.query), subprotocol=subprotocol)


def add_console_routes(router: Router, gateway: Gateway) -> None:
    """Register the console's routes (see the module docstring) on `router`."""
    routes = ConsoleRoutes(gateway)
    router.add("GET", "/ui", routes.page, owner=BUILTIN, public=True)
    router.add("GET", "/ui/static/{name}", routes.static_file, owner=BUILTIN, public=True)
    router.add("GET", "/ui/api/info", routes.info, owner=BUILTIN)
    router.add("GET", "/ui/api/logs", routes.logs, owner=BUILTIN)
    router.add("GET", "/ui/api/logs/{log_id}", routes.log, owner=BUILTIN)
    router.add("GET", "/ui/api/stats", routes.stats, owner=BUILTIN)
    router.add(WEBSOCKET, "/ui/api/live", routes.live, owner=BUILTIN)
