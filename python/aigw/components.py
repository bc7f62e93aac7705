"""Which registered plugin objects the gateway uses, how they are built, started and closed.

Choice is explicit configuration (docs/configuration.md):

    [cache]      backend = "redis"            # default "memory" (in process)
    [rate_limit] backend = "redis"            # default "memory" (in process)
    [logs]       stores = ["postgres"]        # default ["sqlite"]; every record goes to each
    [auth]       backends = ["tokens"]        # default ["tokens"]; asked in order

A name no enabled plugin registered is a configuration error pointing at the file line that
chose it. The older implicit rule (a cache or limiter named by a `[plugins.<name>]` section
wins over "memory"; a logger with a section is enabled) still applies when the table is absent,
with a deprecation warning, so existing configurations keep working.

Objects are built once (`build`), checked against their Protocol (a factory returning the
wrong kind of object stops start-up naming the plugin), then started in order on one exit
stack (`Components`), which closes them in reverse order at stop.
"""

from __future__ import annotations

import inspect
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any, Callable, Sequence

from aigw.config import ConfigError, ConfigIssue, Settings
from aigw.errors import ConfigError as AnyConfigError
from aigw.errors import PluginError
from aigw.interfaces import AuthBackend, AuthenticatesNow, RevocationNotifier
from aigw.registry import Registry
from aigw.types import Principal

__all__ = ["IN_PROCESS", "AuthChain", "Components", "Selection", "build", "per_process_warnings", "select"]

log = logging.getLogger("aigw.gateway")

#: Backends whose state lives in one process (each `--workers` process has its own).
IN_PROCESS = frozenset({"memory"})
#: Loggers enabled by the deprecated implicit rule without a section.
DEFAULT_LOGGERS = ("sqlite",)


@dataclass(frozen=True, slots=True)
class Selection:
    """The names chosen for one gateway, and warnings about how they were chosen."""

    cache: str | None
    rate_limiter: str | None
    loggers: tuple[str, ...]
    auth_backends: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def select(settings: Settings, regs: Any) -> Selection:
    """The cache, rate limiter, loggers and auth backends `settings` choose among the
    registered ones (`regs`: `aigw.plugins.Registries`).

    Raises:
        ConfigError: a chosen name is not registered (file:line of the choice, the registered
            names, and a "did you mean").
    """
    issues: list[ConfigIssue] = []
    warnings: list[str] = []

    def check(registry: Registry[Any], names: Sequence[str], where: str, key: str, kind: str) -> tuple[str, ...]:
        for name in names:
            if name not in registry:
                known = registry.names()
                close = get_close_matches(name, known, n=1, cutoff=0.6)
                hint = f' (did you mean "{close[0]}"?)' if close else ""
                issues.append(
                    ConfigIssue(
                        where,
                        key,
                        f"no enabled plugin registers a {kind} named {name!r}{hint}; registered: "
                        f"{', '.join(known) or 'none'} (is its plugin installed and in plugins.enabled?)",
                    )
                )
        return tuple(names)

    def one(registry: Registry[Any], chosen: Any, key: str, kind: str) -> str | None:
        if chosen.explicit:
            return check(registry, [chosen.backend], chosen.where, key, kind)[0]
        for name in registry.names():  # deprecated: a [plugins.<name>] section chose it
            if name != "memory" and name in settings.plugin_config:
                warnings.append(
                    f"[plugins.{name}] selects the {kind} {name!r} implicitly; this is deprecated: "
                    f'write [{key.split(".")[0]}] backend = "{name}"'
                )
                return name
        return "memory" if "memory" in registry else None

    cache = one(regs.caches, settings.cache, "cache.backend", "cache")
    limiter = one(regs.rate_limiters, settings.rate_limit, "rate_limit.backend", "rate limiter")
    logs = settings.logs
    if logs.explicit:
        loggers = check(regs.loggers, logs.stores, logs.where, "logs.stores", "logger")
    else:
        loggers = tuple(n for n in regs.loggers.names() if n in DEFAULT_LOGGERS or n in settings.plugin_config)
        for name in loggers:
            if name not in DEFAULT_LOGGERS:
                warnings.append(
                    f"[plugins.{name}] enables the logger {name!r} implicitly; this is deprecated: "
                    f"list it in [logs] stores = {list(loggers)!r}"
                )
    auth = settings.auth
    if auth.explicit:
        backends = check(regs.auth_backends, auth.backends, auth.where, "auth.backends", "auth backend")
    else:
        backends = tuple(n for n in auth.backends if n in regs.auth_backends)
    if issues:
        raise ConfigError(issues)
    return Selection(cache, limiter, loggers, backends, tuple(warnings))


def per_process_warnings(selection: Selection, workers: int) -> list[str]:
    """The warnings `aigw serve --workers N` prints when state it relies on is per process."""
    if workers <= 1:
        return []
    out = []
    if selection.rate_limiter in IN_PROCESS:
        out.append(
            f"rate limits are per process: with --workers {workers} and the in-process rate limiter "
            f"({selection.rate_limiter!r}) a gateway lets through up to {workers}x its limit; "
            'use a shared one ([rate_limit] backend = "redis", plugin aigw-redis)'
        )
    if selection.cache in IN_PROCESS:
        out.append(
            f"the cache is per process: with --workers {workers} and the in-process cache "
            f"({selection.cache!r}) a response cached by one worker is a MISS on the others; "
            'use a shared one ([cache] backend = "redis", plugin aigw-redis)'
        )
    return out


def _protocol_members(proto: type) -> list[str]:
    names = set(getattr(proto, "__annotations__", {}))
    names |= {n for n, v in vars(proto).items() if callable(v) and not n.startswith("_")}
    return sorted(names)


def build(registry: Registry[Any], name: str, ctx: Any, proto: type | None = None) -> Any:
    """The object `registry` has under `name`, built with `ctx` and checked against `proto`.

    Raises:
        PluginError: the factory failed (other than a configuration error of its own section,
            which passes through), or returned an object without `proto`'s members; the
            message names the plugin.
    """
    entry = registry[name]
    try:
        obj = entry.factory(ctx)
    except (AnyConfigError, PluginError):
        raise
    except Exception as exc:
        raise PluginError(f"{registry.kind} {name!r} of plugin {entry.plugin} could not be built: {exc}") from exc
    if proto is not None and not isinstance(obj, proto):
        missing = [m for m in _protocol_members(proto) if not hasattr(obj, m)]
        raise PluginError(
            f"{registry.kind} {name!r} of plugin {entry.plugin}: its factory returned a "
            f"{type(obj).__name__}, which is not an aigw.{proto.__name__} (missing: {', '.join(missing)})"
        )
    return obj


class Components:
    """Started plugin objects on one exit stack: `start` each in order, `aclose` all in reverse."""

    def __init__(self) -> None:
        self._stack = AsyncExitStack()

    async def start(self, what: str, obj: Any) -> Any:
        """Run `obj.start()` if it has one, and remember to close it (`aclose`, else `close`).

        `what` names the object in errors ("cache 'redis' of plugin 'redis' (aigw-redis 0.1.0)").

        Raises:
            PluginError: `start` raised; names `what`. Nothing is remembered then.
        """
        start = getattr(obj, "start", None)
        if callable(start):
            try:
                result = start()
                if inspect.isawaitable(result):
                    await result
            except (AnyConfigError, PluginError):
                raise
            except Exception as exc:
                raise PluginError(f"{what} failed to start: {exc}") from exc
        close = getattr(obj, "aclose", None) or getattr(obj, "close", None)
        if callable(close):
            self._stack.push_async_callback(_close_quietly, what, close)
        return obj

    def callback(self, what: str, close: Callable[[], Any]) -> None:
        """Run `close()` at `aclose` time, in stack order (awaited when it returns an awaitable)."""
        self._stack.push_async_callback(_close_quietly, what, close)

    async def aclose(self) -> None:
        """Close everything started, last first. One failure is logged and the rest still close."""
        await self._stack.aclose()


async def _close_quietly(what: str, close: Callable[[], Any]) -> None:
    try:
        result = close()
        if inspect.isawaitable(result):
            await result
    except Exception:  # one broken plugin must not keep the others from flushing
        log.exception("%s failed to close", what)


class AuthChain:
    """Several auth backends as one: the first that knows a token answers for it."""

    name = "chain"

    def __init__(self, backends: Sequence[AuthBackend]) -> None:
        self.backends = tuple(backends)

    def __new__(cls, backends: Sequence[AuthBackend]) -> AuthChain:
        # A chain of backends that all answer without an await answers so too.
        if cls is AuthChain and backends and all(isinstance(b, AuthenticatesNow) for b in backends):
            cls = ImmediateAuthChain
        return super().__new__(cls)

    async def authenticate(self, gateway: str, token: str | None) -> Principal | None:
        """The principal of the first backend that accepts `token` on `gateway`, else None."""
        for backend in self.backends:
            principal = await backend.authenticate(gateway, token)
            if principal is not None:
                return principal
        return None

    def subscribe_revocations(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Subscribe `callback` to every backend that reports revocations."""
        for backend in self.backends:
            if isinstance(backend, RevocationNotifier):
                backend.subscribe_revocations(callback)


class ImmediateAuthChain(AuthChain):
    """An `AuthChain` of backends that all offer `authenticate_now` (what `AuthChain(backends)`
    makes for them): it offers it too."""

    def authenticate_now(self, gateway: str, token: str | None) -> Principal | None:
        """The principal of the first backend that accepts `token` on `gateway`, else None;
        no await."""
        for backend in self.backends:
            principal = backend.authenticate_now(gateway, token)  # type: ignore[attr-defined]
            if principal is not None:
                return principal
        return None
