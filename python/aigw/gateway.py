"""The Gateway: builds everything the request path needs once, then serves it.

    gateway = Gateway(load_settings("aigw.toml"))
    async with gateway:                       # start(): plugins, providers, loggers, client
        server = await gateway.serve()        # inside any running loop; uvloop is the CLI's choice
        ...
    # stop(): stop accepting, finish in-flight work (grace), flush logs, close upstreams

Plugins are resolved here and only here: the request path calls plain objects.
"""

from __future__ import annotations

import logging
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from aigw.api.universal_ws import UniversalSession
from aigw.config import GatewaySettings, Settings, load_settings
from aigw.errors import ByokAliasNotFound, GatewayNotFound, PluginError, Unauthorized
from aigw.interfaces import AuthBackend, Logger, Provider
from aigw.options import RetryPolicy
from aigw.pipeline import GatewayPolicy, Runtime
from aigw.plugins import PluginManager, Registries
from aigw.protocol.http11 import HttpResponse, Request
from aigw.server import ServerSettings, serve
from aigw.types import HttpRequest, PluginContext
from aigw.upstream import UpstreamClient

log = logging.getLogger("aigw.gateway")

UNIVERSAL_PATH = re.compile(r"^/v1/([^/]+)/([^/]+)/?$")
AUTH_SUBPROTOCOL = "cf-aig-authorization."
#: Loggers enabled without any configuration; others are enabled by a [plugins.<name>] section.
DEFAULT_LOGGERS = ("sqlite",)


class SettingsKeyStore:
    """Stored provider keys from the config (`key` is alias "default", `keys` adds aliases)."""

    def __init__(self, providers: Mapping[str, Any]) -> None:
        self._keys: dict[str, dict[str, str]] = {}
        for name, provider in providers.items():
            keys = {alias: secret.reveal() for alias, secret in provider.keys.items() if secret.reveal()}
            if keys:
                self._keys[name] = keys

    def lookup(self, provider: str, alias: str | None) -> str | None:
        """The key for `provider` under `alias` (None: "default"). A named alias that does not
        exist is the client's mistake (Cloudflare's 2040), a missing default is just None."""
        keys = self._keys.get(provider, {})
        if alias is None or alias == "default":
            return keys.get("default")
        if alias not in keys:
            configured = ", ".join(sorted(keys)) or "none"
            raise ByokAliasNotFound(f"Provider '{provider}' has no BYOK credential named '{alias}'. Configured aliases: {configured}")
        return keys[alias]


def gateway_policy(name: str, gw: GatewaySettings) -> GatewayPolicy:
    """The request path's view of one gateway's settings."""
    return GatewayPolicy(
        name=name,
        collect_logs=gw.collect_logs,
        cache_ttl=gw.cache_ttl,
        rate_limit=gw.rate_limit.limit,
        rate_interval=float(gw.rate_limit.interval),
        rate_technique=gw.rate_limit.technique,
        retry=RetryPolicy(gw.retry.max_attempts, gw.retry.delay_ms, gw.retry.backoff, gw.request_timeout_ms),
    )


def json_error(status: int, code: int, message: str) -> HttpResponse:
    """A Cloudflare-style error answer."""
    return HttpResponse.json(
        {"success": False, "result": None, "messages": [], "errors": [{"code": code, "message": message}]}, status=status
    )


@dataclass(slots=True)
class _Built:
    registries: Registries
    runtime: Runtime
    auth: AuthBackend | None
    policies: dict[str, GatewayPolicy]


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
        """Load plugins and build providers, auth, loggers, cache, rate limiter and the upstream
        client. Raises PluginError / ConfigError with a message naming the culprit."""
        if self._built is not None:
            return
        settings = self.settings
        Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
        regs = self.plugins.load().registries()
        self.providers = self._build_providers(regs)
        for warning in settings.warnings:
            log.warning("%s", warning)

        auth = regs.auth_backends.create("tokens", self._ctx("tokens")) if "tokens" in regs.auth_backends else None
        logger_names = [n for n in regs.loggers.names() if n in DEFAULT_LOGGERS or n in settings.plugin_config]
        self.loggers = [regs.loggers.create(name, self._ctx(name)) for name in logger_names]
        for logger in self.loggers:
            await logger.start()
        cache = self._pick(regs.caches, "memory")
        limiter = self._pick(regs.rate_limiters, "memory")
        up = settings.upstream
        client = UpstreamClient(
            max_connections_per_host=up.pool_size_per_host,
            connect_timeout=up.connect_timeout_ms / 1000.0,
            ca_file=str(up.ca_file) if up.ca_file else None,
        )
        runtime = Runtime(self.providers, SettingsKeyStore(settings.providers), client, cache, limiter, self.loggers)
        policies = {name: gateway_policy(name, gw) for name, gw in settings.gateways.items()}
        self._built = _Built(regs, runtime, auth, policies)
        await self.plugins.gateway_startup(self)
        log.info(
            "gateway ready: %d providers (%s), loggers: %s",
            len(self.providers),
            ", ".join(sorted(self.providers)),
            ", ".join(logger_names) or "none",
        )

    def _pick(self, registry: Any, default: str) -> Any:
        """The configured backend ([plugins.<name>] present), else the built-in default."""
        for name in registry.names():
            if name != default and name in self.settings.plugin_config:
                return registry.create(name, self._ctx(name))
        return registry.create(default, self._ctx(default)) if default in registry else None

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
        """Stop serving (in-flight requests finish within the grace period), then flush the
        loggers (no record is lost) and close upstream connections."""
        if self.server is not None:
            await self.server.close(grace=self.settings.server.shutdown_grace if grace is None else grace)
            self.server = None
        built, self._built = self._built, None
        if built is None:
            return
        await self.plugins.gateway_shutdown(self)
        for logger in self.loggers:
            try:
                await logger.close()
            except Exception:  # one broken logger must not keep the others from flushing
                log.exception("logger %s failed to close", getattr(logger, "name", logger))
        close = getattr(built.auth, "close", None)
        if close is not None:
            await close()
        await built.runtime.client.close()

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


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class GatewayApp:
    """Routes upgrade requests to the Universal API and plain HTTP to health and plugin routes."""

    def __init__(self, gateway: Gateway, built: _Built) -> None:
        self.gateway = gateway
        self.built = built
        self.settings = gateway.settings

    async def websocket(self, request: Request) -> Any:
        match = UNIVERSAL_PATH.match(request.path)
        if match is None:
            return json_error(404, 2001, f"no WebSocket API at {request.path}; use /v1/{{account_id}}/{{gateway_id}}")
        account, name = match.groups()
        gw = self.settings.gateways.get(name)
        policy = self.built.policies.get(name)
        if gw is None or policy is None or (gw.account_id and gw.account_id != account):
            return json_error(404, GatewayNotFound.code, f"gateway {name!r} does not exist")
        offered = request.subprotocols
        token = _bearer(request.headers.get("cf-aig-authorization"))
        if token is None:
            token = next((p[len(AUTH_SUBPROTOCOL):] for p in offered if p.startswith(AUTH_SUBPROTOCOL)), None)
        if gw.authentication:
            principal = await self.built.auth.authenticate(name, token) if (self.built.auth and token) else None
            if principal is None:
                return json_error(401, Unauthorized.code, "Unauthorized: send cf-aig-authorization: Bearer <token>")
        # Never echo the token: pick another offered subprotocol, if any.
        subprotocol = next((p for p in offered if not p.startswith(AUTH_SUBPROTOCOL)), None)
        options = {
            k.lower(): v
            for k, v in request.headers
            if k.lower().startswith("cf-aig-") and k.lower() != "cf-aig-authorization"
        }
        return UniversalSession(
            self.built.runtime,
            policy,
            max_inflight=self.settings.server.max_inflight_per_connection,
            subprotocol=subprotocol,
            request_headers=options,
            on_record=self.gateway.records.append if self.gateway.records is not None else None,
        )

    async def http(self, request: Request) -> HttpResponse:
        if request.path == "/health":
            return HttpResponse.json({"status": "ok"})
        route = self.built.registries.routes.match(request.method, request.path)
        if route is not None:
            answer = await route.handler(
                HttpRequest(request.method, request.path, request.query, {k.lower(): v for k, v in request.headers}, request.body)
            )
            return HttpResponse(answer.status, answer.body, answer.headers)
        if UNIVERSAL_PATH.match(request.path):
            return json_error(426, 2010, "this endpoint speaks the WebSocket API: send an Upgrade: websocket request")
        return json_error(404, 2001, f"no route for {request.method} {request.path}")


__all__: Sequence[str] = ["Gateway", "GatewayApp", "SettingsKeyStore", "server_settings_from"]
