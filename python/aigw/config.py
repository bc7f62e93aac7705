"""Configuration: one TOML file plus the environment, validated into a frozen `Settings`.

    settings = load_settings("aigw.toml")          # or None: $AIGW_CONFIG, else defaults
    settings.server.port, settings.gateways["default"].authentication, ...

Every key is optional; with no file the defaults are a gateway `default` with authentication
on, 127.0.0.1:8787 and data in ./.aigw/. Environment variables override the file
(`AIGW_SERVER__PORT=9000`, see `aigw.config_env`). Problems are collected, not stopped at the
first, and raised together as `ConfigError`, each naming where (`aigw.toml:7` or the
environment variable), the key, and what was expected. Unknown keys are errors, with a
"did you mean" when one is close.

Decisions worth knowing:
- Per-plugin settings live under `[plugins.<name>]`, `<name>` being what the plugin registers
  (`[plugins.sqlite]` for the sqlite logger, `[plugins.tokens]` for the tokens auth backend):
  any table inside `[plugins]`, while its plain keys (`enabled`) are the framework's. They are
  kept unvalidated in `Settings.plugin_config[name]` for the component (`PluginContext.config`),
  which validates its own keys.
- Provider tables accept keys of their own for the provider plugin (`region`, `api_version`...),
  kept in `ProviderSettings.options`; only a key that looks like a misspelt known key
  (`base_ulr`) is an error.
- Relative paths written in the file are relative to the file's directory; defaults and
  environment values are relative to the working directory. `Settings` holds absolute paths.
- Secrets (`providers.*.key`, `providers.*.keys`, `tokens`, `gateways.*.tokens`) are `env:NAME`,
  `file:PATH` or literal, resolved at load into `aigw.secret.Secret`, whose repr never shows the
  value; an unset `env:` leaves the key out and adds a warning to `Settings.warnings`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from aigw.config_env import apply_env_overrides
from aigw.secret import Secret
from aigw.compat.routes import parse_routes
from aigw.config_checks import (  # noqa: F401  (ConfigError/ConfigIssue are part of this module's API)
    ConfigError,
    ConfigIssue,
    _BAD,
    _Context,
    _boolean,
    _build,
    _choice,
    _describe,
    _dotted,
    _integer,
    _key,
    _path,
    _seconds,
    _secret,
    _secret_list,
    _string,
    _string_list,
    _table,
    _unknown,
    _url,
    _ws_url,
)

__all__ = [
    "AuthSelection",
    "BackendSelection",
    "ConfigError",
    "ConfigIssue",
    "LogsSelection",
    "GatewaySettings",
    "PluginsSettings",
    "ProviderSettings",
    "RateLimitSettings",
    "RetrySettings",
    "ServerSettings",
    "Settings",
    "UpstreamSettings",
    "RealtimeSettings",
    "load_settings",
]

DEFAULT_GATEWAY = "default"
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_NAME_RULE = "lower-case letters, digits, '-' and '_', at most 64 characters"


# ---- the settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """`[server]`: the listener and WebSocket limits (see websocket-api.md)."""

    host: str = _key(_string(), "127.0.0.1")
    port: int = _key(_integer(1, 65535), 8787)
    #: Processes sharing the port with SO_REUSEPORT.
    workers: int = _key(_integer(1, 256), 1)
    tls_cert: Path | None = _key(_path(must_exist=True), None)
    tls_key: Path | None = _key(_path(must_exist=True), None)
    max_message_size: int = _key(_integer(1024, 1 << 30), 16 * 1024 * 1024)
    max_inflight_per_connection: int = _key(_integer(1, 65536), 256)
    #: Seconds between server pings; 0 = never.
    ping_interval: float = _key(_seconds(0, 3600), 20.0)
    #: Seconds to wait for a pong before closing 1011.
    ping_timeout: float = _key(_seconds(1, 3600), 20.0)
    #: Seconds without frames and nothing in flight before closing 1000; 0 = never.
    idle_timeout: float = _key(_seconds(0, 86400), 300.0)
    #: Seconds in-flight requests get to finish on shutdown.
    shutdown_grace: float = _key(_seconds(0, 3600), 30.0)
    #: Negotiate permessage-deflate when a client offers it.
    permessage_deflate: bool = _key(_boolean, False)
    #: Seconds a request's head and body get to arrive, from its first byte (408 after).
    request_read_timeout: float = _key(_seconds(1, 86400), 60.0)
    #: `aigw serve` only: container allocations between the garbage collector's young passes
    #: (Python's default is 700), and the start-up heap frozen out of full passes; 0 leaves
    #: Python's settings alone (server.md, "Garbage collection").
    gc_threshold: int = _key(_integer(0, 10_000_000), 50_000)
    #: Microseconds between the loop's turns while at least `batch_min_streams` streams are
    #: relaying to Universal WebSocket clients (server.md, "Turn batching"): less CPU a chunk,
    #: up to twice this much more latency a chunk; 0 = off.
    batch_window_us: int = _key(_integer(0, 100_000), 0)
    #: Streams relaying at once (in this process) from which `batch_window_us` applies.
    batch_min_streams: int = _key(_integer(1, 1_000_000), 32)


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    """`rate_limit = {limit, interval, technique}`: gateway-wide requests per interval."""

    #: Requests allowed per interval; 0 = no limit.
    limit: int = _key(_integer(0, 1_000_000_000), 0)
    #: Window length in seconds.
    interval: int = _key(_integer(1, 86400), 60)
    technique: Literal["fixed", "sliding"] = _key(_choice("fixed", "sliding"), "sliding")


@dataclass(frozen=True, slots=True)
class RetrySettings:
    """`retry = {max_attempts, delay_ms, backoff}`: defaults that request headers override."""

    #: Attempts in all, 1 = no retry; at most 5 as in Cloudflare.
    max_attempts: int = _key(_integer(1, 5), 1)
    #: Base delay between attempts, at most 5000 ms.
    delay_ms: int = _key(_integer(0, 5000), 0)
    backoff: Literal["constant", "linear", "exponential"] = _key(
        _choice("constant", "linear", "exponential"), "constant"
    )


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """`[gateways.<name>]`: one gateway, addressed as /v1/{account_id}/{name}."""

    name: str = DEFAULT_GATEWAY
    #: Required account id in URLs; "" accepts any.
    account_id: str = _key(_string(), "")
    authentication: bool = _key(_boolean, True)
    collect_logs: bool = _key(_boolean, True)
    #: Default cache TTL in seconds; 0 = off unless a request asks (max 30 days).
    cache_ttl: int = _key(_integer(0, 30 * 86400), 0)
    rate_limit: RateLimitSettings = _key(_table(RateLimitSettings), factory=RateLimitSettings)
    retry: RetrySettings = _key(_table(RetrySettings), factory=RetrySettings)
    #: Milliseconds to the first response byte before failing over; 0 = the defaults (the
    #: upstream client's 120 s for whole answers, stream_first_byte_timeout_ms for streams).
    request_timeout_ms: int = _key(_integer(0, 86_400_000), 0)
    #: Milliseconds to the first response byte of a streamed request when no request timeout
    #: is set; 0 = the upstream client's default (120 s).
    stream_first_byte_timeout_ms: int = _key(_integer(0, 86_400_000), 60_000)
    #: Longest silence (milliseconds) inside a streamed answer before it is failed; 0 = none.
    stream_idle_timeout_ms: int = _key(_integer(0, 86_400_000), 120_000)
    #: Most steps (fallbacks) one request may name; more is refused with 2010.
    max_steps: int = _key(_integer(1, 100), 10)
    #: Auth tokens accepted by this gateway only, from config (not stored in the database).
    tokens: tuple[Secret, ...] = _key(_secret_list, ())


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    """`[upstream]`: the HTTP client towards providers."""

    #: Extra CA bundle trusted for upstream TLS (tests, private providers).
    ca_file: Path | None = _key(_path(must_exist=True), None)
    pool_size_per_host: int = _key(_integer(1, 4096), 64)
    connect_timeout_ms: int = _key(_integer(1, 600_000), 10_000)
    #: Connections of one provider host's pool that the requests of ONE client connection may
    #: hold at once; its further requests to that host queue until one of its own finishes.
    #: None (unset): a quarter of pool_size_per_host, at least 1. Set it to pool_size_per_host
    #: to turn the share off.
    max_connections_per_client: int | None = _key(_integer(1, 4096), None)

    @property
    def client_share(self) -> int:
        """The effective per-client-connection share of one host's pool."""
        if self.max_connections_per_client is not None:
            return min(self.max_connections_per_client, self.pool_size_per_host)
        return max(1, self.pool_size_per_host // 4)


@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    """`[realtime]`: sessions relayed to providers' own WebSocket APIs (docs/realtime.md)."""

    #: Open realtime sessions allowed per gateway (further upgrades get 429); 0 = no cap.
    max_sessions_per_gateway: int = _key(_integer(0, 1_000_000), 1000)
    #: Milliseconds for TCP + TLS, and again for the provider's answer to the upgrade.
    connect_timeout_ms: int = _key(_integer(1, 600_000), 10_000)
    #: Seconds without a data frame either way before both sides are closed (1000); 0 = never.
    idle_timeout: float = _key(_seconds(0, 86400), 300.0)
    #: Longest session in seconds (then 1008 to both sides); 0 = no limit.
    max_session: float = _key(_seconds(0, 7 * 86400), 7200.0)
    #: Client bytes held while a Gemini Live session reconnects upstream (more: 1008).
    max_buffered_bytes: int = _key(_integer(1024, 1 << 30), 4 * 1024 * 1024)
    #: Reconnect Gemini Live upstream with the latest resumption handle on GoAway.
    resume_gemini: bool = _key(_boolean, True)


@dataclass(frozen=True, slots=True)
class PluginsSettings:
    """`[plugins]`: which installed plugins load (`["*"]`: built-ins and first-party ones)."""

    enabled: tuple[str, ...] = _key(_string_list(_string()), ("*",))


# ---- observability (issue 13: [metrics], [costs]) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    """`[metrics]`: the Prometheus exposition (docs/observability.md)."""

    enabled: bool = _key(_boolean, True)
    #: "" (default): `GET /metrics` on the main port, behind the `default` gateway's auth;
    #: "host:port": a separate listener without auth (bind it to a private address).
    listen: str = _key(_string(re.compile(r"|\[?[A-Za-z0-9.:_-]*\]?:\d{1,5}"), '"" or "host:port"'), "")
    #: Distinct label sets kept; past it, new models are counted under model="other" (a
    #: client names the model, so it must not be able to grow memory without bound).
    max_series: int = _key(_integer(1, 1_000_000), 10_000)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """One model's prices in USD per million tokens (None: the provider has no such price)."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    cache_write: float | None = None


@dataclass(frozen=True, slots=True)
class CostsSettings:
    """`[costs]`: prices over the table shipped with aigw (`aigw/data/prices.json`)."""

    #: Use the shipped price table (false: only `models` below are priced).
    builtin_prices: bool = True
    #: `"provider/model"` -> prices, USD per million tokens; wins over the shipped table.
    models: Mapping[str, ModelPrice] = field(default_factory=lambda: MappingProxyType({}))


_PRICE_KEYS = ["input", "output", "cached_input", "cache_write"]


def _costs(ctx: _Context, raw: Any) -> CostsSettings:
    if not isinstance(raw, dict):
        ctx.error(("costs",), f"expected a table, got {_describe(raw)}")
        return CostsSettings()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "builtin_prices":
            if (checked := _boolean(ctx, ("costs", key), value)) is not _BAD:
                values[key] = checked
        elif key == "models":
            if not isinstance(value, dict):
                ctx.error(("costs", key), f'expected a table of "provider/model" = prices, got {_describe(value)}')
                continue
            models = {}
            for name, prices in value.items():
                here = ("costs", "models", name)
                if "/" not in name or name.startswith("/") or name.endswith("/"):
                    ctx.error(here, 'name a model as "provider/model"')
                elif not isinstance(prices, dict):
                    ctx.error(here, f"expected a table of prices, got {_describe(prices)}")
                else:
                    numbers: dict[str, float] = {}
                    for k, v in prices.items():
                        if k not in _PRICE_KEYS:
                            _unknown(ctx, here + (k,), _PRICE_KEYS)
                        elif isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                            ctx.error(here + (k,), f"expected a price >= 0 in USD per million tokens, got {_describe(v)}")
                        else:
                            numbers[k] = float(v)
                    models[name] = ModelPrice(**numbers)
            values["models"] = MappingProxyType(models)
        else:
            _unknown(ctx, ("costs", key), ["builtin_prices", "models"])
    return CostsSettings(**values)


# ---- which registered component is used (checked against the registries at start-up) --------


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """`[console]`: the web console at `/ui` (docs/console.md). Its page is public; every
    piece of data behind it asks for a token that opens the `default` gateway."""

    enabled: bool = _key(_boolean, False)


@dataclass(frozen=True, slots=True)
class BackendSelection:
    """`[cache]` / `[rate_limit]`: the one registered cache or rate limiter the gateway uses
    (`"memory"` is the built-in, per process; a plugin's, e.g. `"redis"`, is shared)."""

    backend: str = _key(_string(), "memory")
    #: Where `backend` was set ("aigw.toml:12", an environment variable, "defaults"): the
    #: registries are only known at start-up, which reports an unknown name with this.
    where: str = "defaults"
    #: Whether the table was written at all (else the deprecated implicit choice may apply).
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class LogsSelection:
    """`[logs]`: the loggers every record goes to, in order; `aigw logs` reads the first of
    them that can be queried (a log store)."""

    stores: tuple[str, ...] = _key(_string_list(_string()), ("sqlite",))
    where: str = "defaults"
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class AuthSelection:
    """`[auth]`: the auth backends asked, in order, to authenticate a gateway token (the first
    that knows the token answers)."""

    backends: tuple[str, ...] = _key(_string_list(_string()), ("tokens",))
    where: str = "defaults"
    explicit: bool = False


@dataclass(frozen=True, slots=True)
class ProviderSettings:
    """`[providers.<slug>]`: where a provider lives and its stored (BYOK) keys."""

    name: str
    #: Upstream base URL without trailing "/"; None = the provider plugin's default.
    base_url: str | None = None
    #: Stored keys by alias; `key = ...` in the file is alias "default"; `cf-aig-byok-alias`
    #: picks another. Aliases whose `env:` variable is unset are absent.
    keys: Mapping[str, Secret] = field(default_factory=lambda: MappingProxyType({}))
    #: Wire format adapter for /compat; custom providers default to "openai".
    format: str | None = None
    #: Other keys of the table, for the provider plugin to validate (values unresolved; they
    #: may hold secrets, so they stay out of repr; `aigw.secret.resolve_secret` resolves one).
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def key(self) -> Secret | None:
        """The stored key of alias "default", if any."""
        return self.keys.get("default")

    @property
    def is_custom(self) -> bool:
        """A `custom-*` provider: any OpenAI-style (or `format`) endpoint at `base_url`."""
        return self.name.startswith("custom-")


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable, validated. Built by `load_settings`; immutable."""

    data_dir: Path = _key(_path(must_exist=False), factory=lambda: Path.cwd() / ".aigw")
    server: ServerSettings = _key(_table(ServerSettings), factory=ServerSettings)
    plugins: PluginsSettings = field(default_factory=PluginsSettings)
    #: By name; "default" always exists.
    gateways: Mapping[str, GatewaySettings] = field(
        default_factory=lambda: MappingProxyType({DEFAULT_GATEWAY: GatewaySettings()})
    )
    upstream: UpstreamSettings = _key(_table(UpstreamSettings), factory=UpstreamSettings)
    console: ConsoleSettings = _key(_table(ConsoleSettings), factory=ConsoleSettings)
    realtime: RealtimeSettings = _key(_table(RealtimeSettings), factory=RealtimeSettings)
    #: By provider slug; only providers that have a table (or an env override).
    providers: Mapping[str, ProviderSettings] = field(default_factory=lambda: MappingProxyType({}))
    #: Auth tokens accepted by every gateway, from config or `AIGW_TOKENS` (comma-separated).
    tokens: tuple[Secret, ...] = _key(_secret_list, ())
    #: Which registered cache, rate limiter, loggers and auth backends are used.
    cache: BackendSelection = field(default_factory=BackendSelection)
    rate_limit: BackendSelection = field(default_factory=BackendSelection)
    logs: LogsSelection = field(default_factory=LogsSelection)
    auth: AuthSelection = field(default_factory=AuthSelection)
    metrics: MetricsSettings = _key(_table(MetricsSettings), factory=MetricsSettings)  # issue 13
    costs: CostsSettings = field(default_factory=CostsSettings)  # issue 13
    #: Dynamic routes (`model: "dynamic/<name>"` on /compat) by name, validated (aigw.compat.routes).
    routes: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: `[plugins.<name>]` tables, unvalidated, read-only, by registered name (out of repr: they
    #: may hold secrets such as a Redis URL with a password).
    plugin_config: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    #: The file these settings came from; None when running on defaults.
    source: Path | None = None
    #: Start-up warnings (e.g. an `env:` key whose variable is unset); secrets never appear.
    warnings: tuple[str, ...] = ()

    @property
    def db_path(self) -> Path:
        """The SQLite database of auth tokens, `<data_dir>/aigw.db` (the sqlite logger keeps
        its own `logs.db` by default)."""
        return self.data_dir / "aigw.db"


# ---- sections with named tables ----------------------------------------------------------------


def _named_tables(ctx: _Context, path: tuple, raw: Any, what: str) -> dict[str, dict]:
    if not isinstance(raw, dict):
        ctx.error(path, f"expected a table of {what} by name, got {_describe(raw)}")
        return {}
    out = {}
    for name, table in raw.items():
        if not _NAME_RE.fullmatch(name):
            ctx.error(path + (name,), f"invalid name: use {_NAME_RULE}")
        elif not isinstance(table, dict):
            ctx.error(path + (name,), f"expected a table, got {_describe(table)}")
        else:
            out[name] = table
    return out


def _gateways(ctx: _Context, raw: Any) -> Mapping[str, GatewaySettings]:
    built = {
        name: _build(GatewaySettings, ctx, ("gateways", name), table, name=name)
        for name, table in _named_tables(ctx, ("gateways",), raw, "gateways").items()
    }
    built.setdefault(DEFAULT_GATEWAY, GatewaySettings())
    return MappingProxyType(built)


_PROVIDER_KEYS = ["base_url", "key", "keys", "format", "realtime_url"]
#: Options built-in providers read (docs/providers.md): never taken for a misspelt known key.
_PROVIDER_OPTIONS = frozenset({"account_id", "api_version", "deployment_url", "mantle_base_url", "project", "token_url", "token_uri", "version", "region"})


def _provider(ctx: _Context, name: str, raw: dict) -> ProviderSettings:
    path = ("providers", name)
    keys: dict[str, Secret] = {}
    options: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        here = path + (key,)
        if key == "base_url":
            values["base_url"] = _url(ctx, here, value)
        elif key == "format":
            values["format"] = _string(_NAME_RE, f"an adapter name ({_NAME_RULE})")(ctx, here, value)
        elif key == "realtime_url":  # the provider's WebSocket base (docs/realtime.md)
            url = _ws_url(ctx, here, value)
            if url is not _BAD:
                options["realtime_url"] = url
        elif key == "key":
            secret = _secret(ctx, here, value)
            if isinstance(secret, Secret):
                keys["default"] = secret
        elif key == "keys":
            if not isinstance(value, dict):
                ctx.error(here, f"expected a table of alias = secret, got {_describe(value)}")
                continue
            for alias, spec in value.items():
                if alias == "default" and "key" in raw:
                    ctx.error(here + (alias,), 'alias "default" is already set by `key`')
                    continue
                secret = _secret(ctx, here + (alias,), spec)
                if isinstance(secret, Secret):
                    keys[alias] = secret
        elif key not in _PROVIDER_OPTIONS and difflib.get_close_matches(key, _PROVIDER_KEYS, n=1, cutoff=0.6):
            _unknown(ctx, here, _PROVIDER_KEYS)
        else:
            options[key] = _freeze(value)
    values = {k: v for k, v in values.items() if v is not _BAD}
    if name.startswith("custom-"):
        if "base_url" not in raw:
            ctx.error(path, "a custom provider needs base_url")
        values.setdefault("format", "openai")
    return ProviderSettings(
        name=name, keys=MappingProxyType(keys), options=MappingProxyType(options), **values
    )


def _plugins(ctx: _Context, raw: Any) -> tuple[PluginsSettings, Mapping[str, Mapping[str, Any]]]:
    if not isinstance(raw, dict):
        ctx.error(("plugins",), f"expected a table, got {_describe(raw)}")
        return PluginsSettings(), MappingProxyType({})
    plain = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    sections = {k: _freeze(v) for k, v in raw.items() if isinstance(v, dict)}
    return _build(PluginsSettings, ctx, ("plugins",), plain), MappingProxyType(sections)


_TOP_KEYS = [
    "data_dir", "server", "plugins", "gateways", "upstream", "providers", "tokens",
    "cache", "rate_limit", "logs", "auth", "console", "realtime", "metrics", "costs", "routes",
]  # fmt: skip
#: Selection tables: their class and the key whose location start-up errors point at.
_SELECTIONS: dict[str, tuple[type, str]] = {
    "cache": (BackendSelection, "backend"),
    "rate_limit": (BackendSelection, "backend"),
    "logs": (LogsSelection, "stores"),
    "auth": (AuthSelection, "backends"),
}


def _selection(ctx: _Context, name: str, raw: Any) -> Any:
    cls, key = _SELECTIONS[name]
    if not isinstance(raw, dict):
        ctx.error((name,), f"expected a table, got {_describe(raw)}")
        return cls()
    hint = ' (per-gateway limits are gateways.<name>.rate_limit = { limit, interval, technique })'
    if name == "rate_limit" and set(raw) & {"limit", "interval", "technique"}:
        ctx.error((name,), "this table chooses the rate limiter backend" + hint)
        return cls()
    return _build(cls, ctx, (name,), raw, where=ctx.where((name, key) if key in raw else (name,))[1], explicit=key in raw)


def _settings(ctx: _Context, data: dict[str, Any]) -> Settings:
    special: dict[str, Any] = {}
    if "gateways" in data:
        special["gateways"] = _gateways(ctx, data["gateways"])
    if "providers" in data:
        special["providers"] = MappingProxyType(
            {
                name: _provider(ctx, name, table)
                for name, table in _named_tables(ctx, ("providers",), data["providers"], "providers").items()
            }
        )
    if "plugins" in data:
        special["plugins"], special["plugin_config"] = _plugins(ctx, data["plugins"])
    for name in _SELECTIONS:
        if name in data:
            special[name] = _selection(ctx, name, data[name])
    if "costs" in data:
        special["costs"] = _costs(ctx, data["costs"])
    if "routes" in data:
        special["routes"] = _routes(ctx, data["routes"])
    plain = {k: v for k, v in data.items() if k not in ("gateways", "providers", "plugins", "costs", "routes", *_SELECTIONS)}
    for key in plain:
        if key not in _TOP_KEYS:
            _unknown(ctx, (key,), _TOP_KEYS)
    plain = {k: v for k, v in plain.items() if k in _TOP_KEYS}
    return _build(Settings, ctx, (), plain, **special)


def _routes(ctx: _Context, raw: Any) -> Mapping[str, Any]:
    """`[routes.<name>]`: dynamic routes, validated by aigw.compat.routes (file:line errors).
    Whether a route's providers exist is checked at start-up, when providers are registered."""
    if isinstance(raw, dict):
        for name in raw:
            if not _NAME_RE.fullmatch(name):
                ctx.error(("routes", name), f"invalid name: use {_NAME_RULE}")
        raw = {k: v for k, v in raw.items() if _NAME_RE.fullmatch(k)}
    return MappingProxyType(parse_routes(raw, ctx.error))


# ---- loading ----------------------------------------------------------------------------


def load_settings(path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read the TOML file at `path` (else `$AIGW_CONFIG`, else none), apply `AIGW_*` overrides
    from `environ` (default `os.environ`), validate, and return frozen `Settings`.

    Raises `ConfigError` listing every problem, each with file:line (or the variable), the key
    and what was expected. Secret values never appear in errors, warnings or reprs.
    """
    env = os.environ if environ is None else environ
    if path is None and env.get("AIGW_CONFIG"):
        path = env["AIGW_CONFIG"]
    file = Path(path) if path is not None else None
    text = ""
    data: dict[str, Any] = {}
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError([ConfigIssue(str(file), "", f"cannot read the configuration file: {reason}")]) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([_syntax_issue(file, exc)]) from None
    overrides = apply_env_overrides(data, env, frozenset(_TOP_KEYS))
    ctx = _Context(file, text, overrides, env)
    for var, message in overrides.problems:
        ctx.issues.append((1 << 30, ConfigIssue(f"environment {var}", "", message)))
    for var in overrides.ignored:
        close = difflib.get_close_matches(var[5:].lower(), _TOP_KEYS, n=1, cutoff=0.6)
        hint = f' (did you mean "AIGW_{close[0].upper()}"?)' if close else ""
        ctx.warnings.append(f"environment {var}: not a configuration key; ignored{hint}")
    settings = _settings(ctx, data)
    server = settings.server
    if (server.tls_cert is None) != (server.tls_key is None):
        missing = ("server", "tls_key" if server.tls_key is None else "tls_cert")
        present = ("server", "tls_cert" if server.tls_key is None else "tls_key")
        ctx.error(present, f"needs {_dotted(missing)} too (both or neither)")
    if ctx.issues:
        raise ConfigError([issue for _, issue in sorted(ctx.issues, key=lambda item: item[0])])
    return dataclasses.replace(settings, source=file.resolve() if file else None, warnings=tuple(ctx.warnings))


def _syntax_issue(file: Path, exc: tomllib.TOMLDecodeError) -> ConfigIssue:
    message = str(exc)
    match = re.search(r"\(at line (\d+), column \d+\)", message)
    if match is None:
        return ConfigIssue(str(file), "", f"invalid TOML: {message}")
    reason = message[: match.start()].strip()
    return ConfigIssue(f"{file}:{match.group(1)}", "", f"invalid TOML: {reason}")
