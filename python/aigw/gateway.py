"""The Gateway: builds everything the request path needs once, then serves it.

    gateway = Gateway(load_settings("aigw.toml"))
    async with gateway:                       # start(): plugins, providers, loggers, client
        server = await gateway.serve()        # inside any running loop; uvloop is the CLI's choice
        ...
    # stop(): stop accepting, finish in-flight work (grace), flush logs, close upstreams

Plugins are resolved here and only here: the request path calls plain objects.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping, Sequence

from aigw import _codec, pipeline
from aigw.api import compat_routes, http_routes, universal_ws
from aigw.api.compat_routes import CHAT_PATTERN, EMBEDDINGS_PATTERN, MESSAGES_PATTERN, MODELS_PATTERN, CompatDoors, configured_model_lists
from aigw.api.gateway_context import AUTH_SUBPROTOCOL, NEEDS_TOKEN, FrontDoor, GatewayContext
from aigw.api.http_routes import HttpDoors
from aigw.api.logs_api import LogsApi  # issue 13
from aigw.api.metrics_route import METRICS_PATH, MetricsApp, metrics_route  # issue 13
from aigw.api.open_sessions import OpenSessions
from aigw.api.realtime import RealtimeRoute
from aigw.api.router import BUILTIN, WEBSOCKET, Route, RouteMatch, RouteMiss, Router
from aigw.api.universal_ws import UniversalSession
from aigw.compat.translation import Passthrough
from aigw.components import AuthChain, Components, Selection, build, select
from aigw.config import GatewaySettings, Settings, load_settings
from aigw.errors import AigwError, BadRequest, GatewayNotFound, PluginError, http_error_body
from aigw.interfaces import AuthBackend, Cache, Logger, LogStore, Observer, Provider, RateLimiter, RevocationNotifier
from aigw.key_store import SettingsKeyStore
from aigw.logrecords import new_log_id
from aigw.observe.costs import CostMeter, PriceTable  # issue 13
from aigw.observe.metrics import GatewayMetrics, ScrapeSources  # issue 13
from aigw.options import RetryPolicy
from aigw.pipeline import GatewayPolicy, Runtime
from aigw.plugins import PluginManager, Registries
from aigw.private_files import make_private_dir
from aigw.protocol.http11 import Headers, HttpResponse, Request
from aigw.request_model import make_gateway_request, make_step_request
from aigw.server import ServerSettings, serve
from aigw.server.app import streamed_response
from aigw.server.turn_batching import TurnBatcher
from aigw.slots_maker import maker
from aigw.types import HttpRequest, PluginContext
from aigw.types import HttpResponse as PluginHttpResponse
from aigw.upstream import UpstreamClient
from aigw.validation import CheckedHeaders

#: What the router calls: ``handler(request, params, ctx)`` → an HttpResponse, or for a
#: WebSocket route a WebSocketHandler (ctx is None on public routes without a gateway).
RouteHandler = Callable[[Request, Mapping[str, str], "GatewayContext | None"], Awaitable[Any]]

log = logging.getLogger("aigw.gateway")

#: The Universal WebSocket API.
UNIVERSAL_PATTERN = "/v1/{account}/{gateway}"
PROVIDER_PATTERN = "/v1/{account}/{gateway}/{provider}/{rest:path}"
#: Realtime pass-through to a provider's own WebSocket API (docs/realtime.md).
REALTIME_PATTERN = "/v1/{account}/{gateway}/{provider}"


def gateway_policy(name: str, gw: GatewaySettings) -> GatewayPolicy:
    """The request path's view of one gateway's settings."""
    return GatewayPolicy(
        name=name,
        collect_logs=gw.collect_logs,
        cache_ttl=gw.cache_ttl,
        rate_limit=gw.rate_limit.limit,
        rate_interval=float(gw.rate_limit.interval),
        rate_technique=gw.rate_limit.technique,
        retry=RetryPolicy(
            gw.retry.max_attempts, gw.retry.delay_ms, gw.retry.backoff, gw.request_timeout_ms, gw.stream_idle_timeout_ms
        ),
        max_steps=gw.max_steps,
        stream_first_byte_timeout_ms=gw.stream_first_byte_timeout_ms,
    )


def json_error(status: int, code: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> HttpResponse:
    """A Cloudflare-style error answer (`http_error_body`)."""
    return HttpResponse.json(http_error_body(status, code, message), status=status, headers=headers)


@dataclass(slots=True)
class _Built:
    registries: Registries
    runtime: Runtime
    auth: AuthBackend | None
    policies: dict[str, GatewayPolicy]
    router: Router
    door: FrontDoor
    sessions: OpenSessions
    auth_backends: tuple[Any, ...] = ()
    #: The /compat doors (they also expand `provider: "compat"` Universal WebSocket steps).
    compat: Any = None
    #: The HTTP doors and their provider route (for the native door, `GatewayApp.http`).
    doors: HttpDoors | None = None
    provider_route: Any = None
    #: The /compat chat routes and their front doors, `((route, "openai"), (route, "anthropic"))`.
    compat_routes: tuple[tuple[Any, str], ...] = ()


class Gateway:
    """The whole gateway, embeddable in any running asyncio application."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        plugin_manager: PluginManager | None = None,
        server_settings: ServerSettings | None = None,
    ) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.plugins = plugin_manager if plugin_manager is not None else PluginManager(self.settings.plugins.enabled)
        self.server_settings = server_settings
        self.server: Any = None
        self.providers: dict[str, Provider] = {}
        self.loggers: list[Logger] = []
        self.records: list[Any] | None = None  # tests may collect LogRecords here
        self._built: _Built | None = None
        self._components: Components | None = None
        # ---- issue 13: observers (costs, metrics, plugins' via add_observer) ----
        self.observers: list[Observer] = []
        self.metrics: GatewayMetrics | None = None
        self.metrics_server: Any = None
        self.draining = False  # stop() has begun: /health answers 503 so balancers move on
        self.turn_batcher: TurnBatcher | None = None  # server.batch_window_us, while started

    # -- lifecycle --
    async def __aenter__(self) -> "Gateway":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _ctx(self, name: str, config: Mapping[str, Any] | None = None) -> PluginContext:
        if config is None:
            config = self.settings.plugin_config.get(name, {})
        return PluginContext(name, config, self.settings, Path(self.settings.data_dir))

    async def start(self) -> None:
        """Load plugins, build the chosen components (see `aigw.components`), start each in
        order on one exit stack, then the upstream client and the plugins' `gateway_startup`.

        Raises ConfigError (an unknown backend name, with file:line) or PluginError naming the
        plugin whose factory, Protocol or `start` failed; what was started is closed first."""
        if self._built is not None:
            return
        settings = self.settings
        make_private_dir(settings.data_dir)  # logs hold prompts and answers: 0700, files 0600
        regs = self.plugins.load().registries()
        chosen = select(settings, regs)
        for warning in (*settings.warnings, *chosen.warnings):
            log.warning("%s", warning)
        parts = Components()
        try:
            built = await self._start_components(regs, chosen, parts)
            self._built = built
            self._components = parts
            self._build_router(built)
            await self.plugins.gateway_startup(self)
        except BaseException:
            self._built = None
            await parts.aclose()
            raise
        parts.callback("plugins' gateway_shutdown", lambda: self.plugins.gateway_shutdown(self))
        self._batch_turns(parts)
        log.info(
            "gateway ready: %d providers (%s), cache: %s, rate limiter: %s, loggers: %s, auth: %s",
            len(self.providers),
            ", ".join(sorted(self.providers)),
            chosen.cache or "none",
            chosen.rate_limiter or "none",
            ", ".join(chosen.loggers) or "none",
            ", ".join(chosen.auth_backends) or "none",
        )

    def _batch_turns(self, parts: Components) -> None:
        """`server.batch_window_us`: space the loop's turns while this process relays at least
        `server.batch_min_streams` streams to Universal WebSocket clients
        (aigw.server.turn_batching); undone at stop."""
        s = self.settings.server
        if not s.batch_window_us:
            return
        least = s.batch_min_streams
        streams = universal_ws.STREAMS
        batcher = TurnBatcher(s.batch_window_us / 1e6, lambda: streams.relaying >= least, loop=asyncio.get_running_loop())
        streams.watch(least, batcher.start)
        self.turn_batcher = batcher

        def undo() -> None:
            streams.unwatch(batcher.start)
            batcher.close()
            self.turn_batcher = None

        parts.callback("turn batching", undo)

    async def _start_components(self, regs: Registries, chosen: Selection, parts: Components) -> _Built:
        settings = self.settings

        async def make(registry: Any, name: str, proto: type) -> Any:
            obj = build(registry, name, self._ctx(name), proto)
            return await parts.start(f"{registry.kind} {name!r} of plugin {registry[name].plugin}", obj)

        self.providers = self._build_providers(regs)
        for name, provider in self.providers.items():
            await parts.start(f"provider {name!r} of plugin {regs.providers[name].plugin}", provider)
        backends = [await make(regs.auth_backends, n, AuthBackend) for n in chosen.auth_backends]
        auth: Any = backends[0] if len(backends) == 1 else AuthChain(backends) if backends else None
        self.loggers = [await make(regs.loggers, n, Logger) for n in chosen.loggers]
        cache = await make(regs.caches, chosen.cache, Cache) if chosen.cache else None
        limiter = await make(regs.rate_limiters, chosen.rate_limiter, RateLimiter) if chosen.rate_limiter else None
        up = settings.upstream
        client = UpstreamClient(
            max_connections_per_host=up.pool_size_per_host,
            max_connections_per_owner=up.client_share,
            connect_timeout=up.connect_timeout_ms / 1000.0,
            ca_file=str(up.ca_file) if up.ca_file else None,
        )
        parts.callback("the upstream client", client.close)
        self._build_observers(client)
        runtime = Runtime(
            self.providers, SettingsKeyStore(settings.providers), client, cache, limiter, self.loggers, self.observers
        )
        policies = {name: gateway_policy(name, gw) for name, gw in settings.gateways.items()}
        sessions = OpenSessions()
        if isinstance(auth, RevocationNotifier):
            auth.subscribe_revocations(sessions.revoke)
        return _Built(
            regs, runtime, auth, policies, Router(), FrontDoor(settings.gateways, policies, auth), sessions, tuple(backends)
        )

    def _build_observers(self, client: UpstreamClient) -> None:
        """issue 13: the cost meter first (everything after it sees the cost), then metrics."""
        self.observers[:] = [CostMeter(PriceTable.from_settings(self.settings.costs))]
        self.metrics = None
        if self.settings.metrics.enabled:
            from aigw.server.websocket import WebSocket

            sources = ScrapeSources(
                upstream=client.stats,
                loggers=lambda: self.loggers,
                connections=lambda: self.server.connections if self.server is not None else (),
                websocket_type=WebSocket,
            )
            self.metrics = GatewayMetrics(sources, max_series=self.settings.metrics.max_series)
            self.observers.append(self.metrics)

    def add_observer(self, observer: Observer) -> None:
        """Have `observer` see every finished request from now on (after the cost meter and the
        metrics). For plugins, from `gateway_startup`; it must be cheap and must not raise."""
        if not isinstance(observer, Observer):
            raise PluginError(f"{observer!r} is not an Observer: it needs observe(record)")
        self.observers.append(observer)

    async def health(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> HttpResponse:
        """``GET /health`` (public): see `health_report`."""
        status, body = health_report(self)
        return HttpResponse.json(body, status=status)

    @property
    def log_store(self) -> LogStore | None:
        """The first chosen logger that can be queried (`[logs] stores`), or None."""
        return next((lg for lg in self.loggers if isinstance(lg, LogStore)), None)

    def _build_router(self, built: _Built) -> None:
        """One table for the built-in routes and every plugin route; a clash stops start-up
        naming both owners."""
        router = built.router
        app = GatewayApp(self, built)
        doors = HttpDoors(built.runtime, on_record=self.records.append if self.records is not None else None)
        router.add(WEBSOCKET, UNIVERSAL_PATTERN, app.universal, owner=BUILTIN)
        router.add("POST", UNIVERSAL_PATTERN, doors.universal, owner=BUILTIN)
        built.doors = doors
        built.provider_route = router.add("*", PROVIDER_PATTERN, doors.provider, owner=BUILTIN)
        realtime = RealtimeRoute(
            built.runtime, self.settings.realtime, max_message_size=self.settings.server.max_message_size,
            on_record=self.records.append if self.records is not None else None,
        )
        router.add(WEBSOCKET, REALTIME_PATTERN, realtime, owner=BUILTIN)
        router.add(WEBSOCKET, REALTIME_PATTERN + "/{rest:path}", realtime, owner=BUILTIN)
        formats = {name: p.format for name, p in self.settings.providers.items() if p.format}
        compat = CompatDoors(
            built.runtime, formats, routes=self.settings.routes, model_lists=configured_model_lists(self.settings.providers),
            on_record=self.records.append if self.records is not None else None,
        )  # fmt: skip
        built.compat_routes = (
            (router.add("POST", CHAT_PATTERN, compat.chat_completions, owner=BUILTIN), "openai"),
            (router.add("POST", MESSAGES_PATTERN, compat.messages, owner=BUILTIN), "anthropic"),
        )
        router.add("POST", EMBEDDINGS_PATTERN, compat.embeddings, owner=BUILTIN)
        router.add("GET", MODELS_PATTERN, compat.models, owner=BUILTIN)
        built.compat = compat
        router.add("GET", "/ready", app.ready, owner=BUILTIN, public=True)
        if self.settings.console.enabled:
            from aigw.console import add_console_routes

            add_console_routes(router, self)
        router.add("GET", "/health", self.health, owner=BUILTIN, public=True)
        if self.metrics is not None and not self.settings.metrics.listen:  # issue 13
            router.add("GET", METRICS_PATH, metrics_route(self.metrics.registry), owner=BUILTIN)
        for method, pattern, handler in LogsApi(lambda: self.log_store).routes():  # issue 13
            router.add(method, pattern, handler, owner=BUILTIN)
        for route in built.registries.routes:
            router.add(route.method, route.pattern, plugin_route_handler(route.handler), owner=route.owner, public=route.public)
        router.freeze()

    def create_token(self, name: str = "", gateway: str | None = None) -> str:
        """Create a gateway auth token (stored hashed in `<data_dir>/aigw.db`, like `aigw tokens
        create`) valid on `gateway` (None: every gateway) and return it: it is not kept, so
        hand it to the client now. Needs the built-in `tokens` auth backend and a started
        gateway."""
        if self._built is None:
            raise RuntimeError("call `await gateway.start()` first")
        store = next((b.store for b in self._built.auth_backends if getattr(b, "store", None) is not None), None)
        if store is None:
            raise RuntimeError("the `tokens` auth backend is not enabled: it is what stores tokens")
        token, _ = store.create(name, gateway)
        return token

    def _build_providers(self, regs: Registries) -> dict[str, Provider]:
        """Every registered provider name, plus each configured name a family (`custom-*`)
        covers. A configured provider nobody registered is a start-up error."""
        providers: dict[str, Provider] = {}
        configured = self.settings.providers
        for name in regs.providers.names():
            if name.endswith("*"):
                continue
            ps = configured.get(name)
            providers[name] = regs.providers.create(name, self._ctx(name, self._provider_config(ps)))
        for name, ps in configured.items():
            if name in providers:
                continue
            if regs.providers.lookup(name) is None:
                raise PluginError(f"providers.{name} is configured but no enabled plugin provides {name!r}")
            providers[name] = regs.providers.create(name, self._ctx(name, self._provider_config(ps)))
        return providers

    @staticmethod
    def _provider_config(ps: Any) -> dict[str, Any]:
        if ps is None:
            return {}
        config = dict(ps.options)
        if ps.base_url:
            config["base_url"] = ps.base_url
        if ps.format:
            config["format"] = ps.format
        return config

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving (in-flight requests finish within the grace period), then run the
        plugins' `gateway_shutdown` and close every component in reverse start order: the
        upstream client, rate limiter, cache, loggers (which store every accepted record), auth
        backends, providers. One failing close is logged; the others still run."""
        if self.server is not None:
            self.draining = True
            try:
                await self.server.close(grace=self.settings.server.shutdown_grace if grace is None else grace)
            finally:
                self.draining = False
            self.server = None
        if self.metrics_server is not None:  # issue 13
            await self.metrics_server.close(grace=0)
            self.metrics_server = None
        built, self._built = self._built, None
        if built is None:
            return
        parts, self._components = self._components, None
        if parts is not None:
            await parts.aclose()

    # -- serving --
    def app(self) -> "GatewayApp":
        """The server application (for embedding under another server)."""
        if self._built is None:
            raise RuntimeError("call `await gateway.start()` first")
        return GatewayApp(self, self._built)

    async def serve(
        self, host: str | None = None, port: int | None = None, *, ssl: ssl.SSLContext | None = None, reuse_port: bool = False
    ) -> Any:
        """Start the gateway if needed and listen; returns the server (its `.port` is bound)."""
        await self.start()
        s = self.settings.server
        self.server = await serve(
            self.app(),
            s.host if host is None else host,
            s.port if port is None else port,
            ssl=ssl,
            settings=self.server_settings or server_settings_from(self.settings),
            reuse_port=reuse_port,
        )
        listen = self.settings.metrics.listen
        if self.metrics is not None and listen and self.metrics_server is None:  # issue 13
            host, _, mport = listen.rpartition(":")
            self.metrics_server = await serve(
                MetricsApp(self.metrics.registry), host.strip("[]") or "127.0.0.1", int(mport), reuse_port=reuse_port
            )
        return self.server


def server_settings_from(settings: Settings) -> ServerSettings:
    """The server core's limits and timers from the user's `[server]` table."""
    s = settings.server
    return ServerSettings(
        max_message_size=s.max_message_size,
        ping_interval=s.ping_interval or None,
        ping_timeout=s.ping_timeout,
        idle_timeout=s.idle_timeout or None,
        permessage_deflate=s.permessage_deflate,
        request_read_timeout=s.request_read_timeout,
    )


def health_report(gateway: Gateway) -> tuple[int, dict[str, Any]]:
    """What ``GET /health`` answers (issue 13): 200 ``{"status": "ok", ...}`` while serving,
    503 ``{"status": "draining", ...}`` once a graceful stop began; plus each logger's
    backlog (records accepted, not yet stored), dropped and failed counts, and the loaded
    plugins."""
    logs = {}
    for logger in gateway.loggers:
        stats = getattr(logger, "stats", None)
        if stats is not None:
            backlog = max(0, stats.accepted - stats.written - stats.failed)
            logs[str(getattr(logger, "name", type(logger).__name__))] = {"backlog": backlog, "dropped": stats.dropped, "failed": stats.failed}
    body = {
        "status": "draining" if gateway.draining else "ok",
        "draining": gateway.draining,
        "logs": logs,
        "plugins": {name: "loaded" for name in gateway.plugins.loaded()},
    }
    return (503 if gateway.draining else 200), body


def plugin_route_handler(handler: Callable[[HttpRequest], Awaitable[Any]]) -> RouteHandler:
    """Adapt a plugin's ``async (aigw.HttpRequest) -> aigw.HttpResponse | WebSocketHandler``
    to the router's handler signature (the plugin API keeps its own small types)."""

    async def call(request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        answer = await handler(
            HttpRequest(
                request.method,
                request.path,
                request.query,
                {k.lower(): v for k, v in request.headers},
                request.body,
                params=dict(params),
                gateway=ctx.name if ctx is not None else None,
                principal=ctx.principal if ctx is not None else None,
            )
        )
        if isinstance(answer, PluginHttpResponse):
            return HttpResponse(answer.status, answer.body, answer.headers)
        return answer  # a WebSocketHandler (WEBSOCKET routes) or the server's HttpResponse

    return call


class GatewayApp:
    """The server application: every request goes through the router, then (unless the route
    is public) through gateway resolution and authentication, then to the route's handler."""

    def __init__(self, gateway: Gateway, built: _Built) -> None:
        self.gateway = gateway
        self.built = built
        self.settings = gateway.settings
        self.router = built.router
        self.door = built.door
        self.sessions = built.sessions
        if built.doors is not None and built.compat is not None:
            # The usual provider-route and /compat pass-through request (a gateway entered
            # without an await, no option, the body here) made natively up to its
            # StreamedResponse; every other request goes to `_dispatch`
            # (rust/src/python/usual_door.rs).
            self.http = _USUAL_DOOR.function(
                self, self.router, self.door, built.doors, built.provider_route, built.compat, built.compat_routes
            )

    async def websocket(self, request: Request) -> Any:
        """An upgrade request: a WebSocket route's handler, or an HTTP answer (refusal)."""
        return await self._dispatch(request, True)

    async def _dispatch(self, request: Request, websocket: bool = False, found: RouteMatch | None = None) -> Any:
        # `found`: the route the native door (`http`) already resolved the request to.
        if found is None:
            found = self.router.resolve(request.method, request.path, websocket=websocket)
        if isinstance(found, RouteMiss):
            if found.status != 404 and not self.door.exists(found.params):
                # An unknown gateway is an unknown path, whatever the method.
                return json_error(404, GatewayNotFound.code, f"gateway {found.params['gateway']!r} does not exist")
            return _miss(request, found)
        route = found.route
        try:
            ctx = self.door.enter_without_token(route, found.params)
            if ctx is NEEDS_TOKEN:
                ctx = await self.door.authenticate(request, found.params, websocket=websocket)
        except AigwError as err:
            return json_error(err.status, err.code, err.message)
        result = await route.handler(request, found.params, ctx)
        if websocket and ctx is not None and ctx.principal is not None and not isinstance(result, HttpResponse):
            result = self.sessions.track(ctx.principal.id, result)  # closed 1008 if the token is revoked
        return result

    #: A plain HTTP request: the awaitable answer. `_dispatch` itself (websocket=False), so the
    #: server's call makes the request's coroutine with no Python frame around it, and the
    #: request resumes through one frame fewer.
    http = _dispatch

    async def ready(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> HttpResponse:
        """``GET /ready`` (public): 200 while the gateway takes new requests, 503 once it is
        draining (shutting down: a load balancer should stop sending it traffic)."""
        server = self.gateway.server
        if server is None or getattr(server, "shutting_down", False):
            return HttpResponse.json({"status": "draining"}, status=503)
        return HttpResponse.json({"status": "ready"})

    async def universal(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """``WEBSOCKET /v1/{account}/{gateway}``: one Universal API session per connection."""
        assert ctx is not None  # the route is not public
        offered = request.subprotocols
        # Never echo the token: select another offered subprotocol, if any (docs/websocket-api.md).
        subprotocol = next((p for p in offered if not p.startswith(AUTH_SUBPROTOCOL)), None)
        options = {
            k.lower(): v
            for k, v in request.headers
            if k.lower().startswith("cf-aig-") and k.lower() != "cf-aig-authorization"
        }
        return UniversalSession(
            self.built.runtime,
            ctx.policy,
            max_inflight=self.settings.server.max_inflight_per_connection,
            subprotocol=subprotocol,
            request_headers=options,
            on_record=self.gateway.records.append if self.gateway.records is not None else None,
            principal=ctx.principal,
            compat=self.built.compat,
        )


#: `GatewayApp.http`'s native door: `_dispatch` → `HttpDoors.provider` → `_answer` for the
#: usual provider-route request, `CompatDoors._handle` → `_answer` for the usual /compat
#: pass-through, `_dispatch`'s handler call for another built-in route to a gateway entered
#: without an await (see GatewayApp.__init__).
_USUAL_DOOR = _codec.UsualDoor(
    (Request, Headers, Router, RouteMatch, Route, FrontDoor, GatewayContext, HttpDoors),
    GatewayApp._dispatch, http_routes._HOP, CheckedHeaders, new_log_id, make_step_request, make_gateway_request,
    streamed_response, vars(http_routes), pipeline.run, pipeline._usual_run,
    (CompatDoors, Passthrough), vars(compat_routes), maker(GatewayContext),
)


def _miss(request: Request, miss: RouteMiss) -> HttpResponse:
    """404, 405 (with Allow) or 426 (with Upgrade: websocket), each with a JSON error body."""
    if miss.status == 426:
        return json_error(
            426,
            BadRequest.code,
            "this endpoint speaks the WebSocket API: send an Upgrade: websocket request",
            [("upgrade", "websocket"), ("connection", "upgrade")],
        )
    if miss.status == 405:
        allow = ", ".join(miss.allow)
        return json_error(405, BadRequest.code, f"{request.method} is not allowed on {request.path} (allowed: {allow})", [("allow", allow)])
    return json_error(404, GatewayNotFound.code, f"no route for {request.method} {request.path}")


__all__: Sequence[str] = ["Gateway", "GatewayApp", "SettingsKeyStore", "plugin_route_handler", "server_settings_from"]
