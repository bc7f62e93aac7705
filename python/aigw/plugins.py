"""Finding, enabling and calling plugins. The only module that touches pluggy's `pm.hook`.

A plugin is a module with ``@aigw.hookimpl`` functions (see hookspecs.py). Three sources, all
registered through the same path, in this order:

1. **Built-ins**: the modules in `BUILTIN_PLUGINS`, named by module name
   ("aigw.builtins.providers"). They are part of aigw, so they always load unless named in
   ``AIGW_DISABLE_PLUGINS``.
2. **Entry points** in the ``aigw`` group (``[project.entry-points.aigw] echo = "aigw_echo"``),
   named by entry-point name ("echo"). Installed is not enabled; see `PluginManager` for the rule.
3. **Inline plugins** handed to the manager (tests; `aigw.testing.register_plugin`).

The gateway builds one `PluginManager`, calls `load()`, then `registries()` once, and the
lifecycle methods; it never sees pluggy. Environment switches: ``AIGW_PLUGINS`` (replaces
``plugins.enabled``), ``AIGW_DISABLE_PLUGINS`` (block-list, wins over everything),
``AIGW_TRACE_PLUGINS=1`` (print every hook call to stderr).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import metadata
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

import pluggy

from aigw import hookspecs
from aigw.errors import PluginError
from aigw.registry import Registry, RouteTable

if TYPE_CHECKING:
    import click

    from aigw.interfaces import AuthBackend, Cache, Logger, Provider, RateLimiter

#: First-party plugins with no extra dependency, registered by module name, in this order.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "aigw.builtins.providers",
    "aigw.builtins.sqlite_logs",
    "aigw.builtins.jsonl_logs",
    "aigw.builtins.memory_cache",
    "aigw.builtins.window_limiter",
    "aigw.builtins.token_auth",
)

ENTRY_POINT_GROUP = "aigw"
#: Distributions whose normalized name starts with this are enabled by "*".
FIRST_PARTY_PREFIX = "aigw-"

log = logging.getLogger("aigw.plugins")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """One installed or built-in plugin, as `aigw plugins` shows it."""

    name: str  # built-in: module name; entry point: entry-point name
    module: str
    distribution: str | None  # None for inline plugins
    version: str | None
    source: str  # "builtin" | "entry-point" | "inline"
    enabled: bool
    #: what it registered, by kind ("providers", "routes", "commands", ...); empty when not loaded
    registers: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """How errors name the plugin: ``'echo' (aigw-echo 0.1.0)``."""
        if self.distribution is None:
            return f"{self.name!r} (inline)"
        return f"{self.name!r} ({self.distribution} {self.version})"


@dataclass(slots=True)
class _Candidate:
    info: PluginInfo
    load: Callable[[], object]  # imports the module (only called when enabled)


@dataclass(frozen=True, slots=True)
class Registries:
    """Everything the `register_*` hooks registered, frozen."""

    providers: Registry[Provider]
    auth_backends: Registry[AuthBackend]
    loggers: Registry[Logger]
    caches: Registry[Cache]
    rate_limiters: Registry[RateLimiter]
    routes: RouteTable


# hook name → (Registries field, registry kind used in messages)
_REGISTRY_HOOKS = {
    "register_providers": ("providers", "provider"),
    "register_auth_backends": ("auth_backends", "auth backend"),
    "register_loggers": ("loggers", "logger"),
    "register_caches": ("caches", "cache"),
    "register_rate_limiters": ("rate_limiters", "rate limiter"),
}


def normalize_distribution(name: str) -> str:
    """PEP 503 normalization: "AIGW_Echo" → "aigw-echo"."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_name_list(value: str) -> list[str]:
    """A comma-separated environment list: "echo, redis" → ["echo", "redis"]; "" → []."""
    return [item.strip() for item in value.split(",") if item.strip()]


def is_enabled(info: PluginInfo, enabled: Iterable[str], disabled: Iterable[str]) -> bool:
    """The enabling rule, in order:

    1. named (by plugin or distribution name) in `disabled` → off;
    2. built-in or inline → on;
    3. named (by entry-point or distribution name) in `enabled` → on;
    4. "*" in `enabled` and its distribution is first-party (``aigw-*``) → on;
    5. otherwise off: a third-party distribution must be named explicitly.
    """
    names = {info.name}
    if info.distribution:
        names.add(normalize_distribution(info.distribution))
    blocked = set(disabled) | {normalize_distribution(d) for d in disabled}
    if names & blocked:
        return False
    if info.source != "entry-point":
        return True
    wanted = set(enabled) | {normalize_distribution(e) for e in enabled}
    if names & wanted:
        return True
    return "*" in wanted and normalize_distribution(info.distribution or "").startswith(FIRST_PARTY_PREFIX)


class PluginManager:
    """The gateway's view of its plugins: discovery, enabling, and one typed method per hook.

    Enabling (``plugins.enabled`` in the config, default ``["*"]``):

    * ``"*"``: every entry-point plugin from a first-party distribution (name ``aigw-*``).
    * a name: the entry-point plugin of that name, or every entry point of that distribution.
    * an explicit list without ``"*"`` enables exactly those entry-point plugins; ``[]`` none.
    * built-ins always load (they ship with aigw); ``AIGW_DISABLE_PLUGINS`` can turn one off.
    * ``AIGW_PLUGINS`` (comma-separated), when set, replaces ``plugins.enabled``; set it empty
      to load built-ins only.
    * ``AIGW_DISABLE_PLUGINS`` (comma-separated plugin or distribution names) wins over all.

    A plugin that is not enabled is never imported. A name in the enabled list that matches no
    installed plugin, a plugin that fails to import, that implements an unknown hook or a hook
    with unknown arguments, that raises in a hook, or that registers a name already taken stops
    start-up with a `PluginError` naming the plugin, its distribution and version.
    """

    def __init__(
        self,
        enabled: Sequence[str] = ("*",),
        *,
        builtins: Sequence[str] = BUILTIN_PLUGINS,
        inline: Sequence[tuple[str, object]] = (),
        environ: Mapping[str, str] | None = None,
        entry_points: bool = True,
    ) -> None:
        env = os.environ if environ is None else environ
        if isinstance(enabled, str):  # a lone name, not a list of characters
            enabled = (enabled,)
        self.enabled: tuple[str, ...] = tuple(
            parse_name_list(env["AIGW_PLUGINS"]) if "AIGW_PLUGINS" in env else enabled
        )
        self.disabled: tuple[str, ...] = tuple(parse_name_list(env.get("AIGW_DISABLE_PLUGINS", "")))
        self._builtins = tuple(builtins)
        self._inline = tuple(inline) + tuple(_INLINE_PLUGINS)
        self._use_entry_points = entry_points
        self._trace = env.get("AIGW_TRACE_PLUGINS", "") not in ("", "0")
        self._pm = pluggy.PluginManager("aigw")
        self._pm.add_hookspecs(hookspecs)
        self._candidates: list[_Candidate] = []
        self._loaded: list[tuple[PluginInfo, object]] = []  # in load order
        self._registries: Registries | None = None
        self._commands: dict[str, list[str]] = {}
        self._started: list[tuple[PluginInfo, object]] = []
        self._is_loaded = False

    # ---- loading ----

    def load(self) -> PluginManager:
        """Discover plugins, import and register the enabled ones, validate their hooks.
        Idempotent; returns self.

        Raises:
            PluginError: see the class docstring.
        """
        if self._is_loaded:
            return self
        self._candidates = self._discover()
        self._check_enabled_names()
        for candidate in self._candidates:
            if candidate.info.enabled:
                self._register(candidate.info, candidate.load())
        self._check_unknown_hooks()
        if self._trace:
            self._pm.trace.root.setwriter(lambda text: sys.stderr.write(text))
            self._pm.enable_tracing()
        self._is_loaded = True
        return self

    def _discover(self) -> list[_Candidate]:
        candidates = [self._builtin(module) for module in self._builtins]
        if self._use_entry_points:
            eps = sorted(metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: (ep.name, ep.value))
            candidates += [self._entry_point(ep) for ep in eps]
        for name, obj in self._inline:
            info = PluginInfo(name, getattr(obj, "__name__", type(obj).__name__), None, None, "inline", False)
            info = replace(info, enabled=is_enabled(info, self.enabled, self.disabled))
            candidates.append(_Candidate(info, functools.partial(_identity, obj)))
        by_name: dict[str, PluginInfo] = {}
        for candidate in candidates:
            info = candidate.info
            if not info.enabled:
                continue
            other = by_name.get(info.name)
            if other is not None:
                raise PluginError(f"two plugins are named {info.name!r}: {other.label} and {info.label}")
            by_name[info.name] = info
        return candidates

    def _builtin(self, module: str) -> _Candidate:
        from aigw import __version__

        info = PluginInfo(module, module, "aigw", __version__, "builtin", False)
        info = replace(info, enabled=is_enabled(info, self.enabled, self.disabled))

        def load() -> object:
            try:
                return importlib.import_module(module)
            except Exception as exc:
                raise PluginError(f"built-in plugin {info.label} failed to import: {exc!r}") from exc

        return _Candidate(info, load)

    def _entry_point(self, ep: metadata.EntryPoint) -> _Candidate:
        dist = ep.dist
        dist_name = dist.metadata["Name"] if dist is not None else None
        version = dist.version if dist is not None else None
        info = PluginInfo(ep.name, ep.value, dist_name or "unknown", version, "entry-point", False)
        info = replace(info, enabled=is_enabled(info, self.enabled, self.disabled))

        def load() -> object:
            try:
                return ep.load()
            except Exception as exc:
                raise PluginError(f"plugin {info.label} failed to import {ep.value!r}: {exc!r}") from exc

        return _Candidate(info, load)

    def _check_enabled_names(self) -> None:
        known = set()
        for candidate in self._candidates:
            known.add(candidate.info.name)
            if candidate.info.distribution:
                known.add(normalize_distribution(candidate.info.distribution))
        unknown = [n for n in self.enabled if n != "*" and n not in known and normalize_distribution(n) not in known]
        if unknown:
            installed = sorted(c.info.name for c in self._candidates if c.info.source == "entry-point")
            raise PluginError(
                f"enabled plugin(s) {', '.join(map(repr, unknown))} not installed "
                f"(installed entry-point plugins: {', '.join(installed) or 'none'})"
            )

    def _register(self, info: PluginInfo, plugin: object) -> None:
        try:
            self._pm.register(plugin, name=info.name)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {info.label} is invalid: {exc}") from exc
        except ValueError as exc:  # same object or name registered twice
            raise PluginError(f"plugin {info.label} could not be registered: {exc}") from exc
        self._loaded.append((info, plugin))

    def _check_unknown_hooks(self) -> None:
        """A hookimpl without a spec is a typo or a plugin written for another aigw version."""
        for info, plugin in self._loaded:
            unknown = sorted(
                caller.name
                for caller in self._pm.get_hookcallers(plugin) or ()
                if not caller.has_spec()
                and any(not impl.optionalhook for impl in caller.get_hookimpls() if impl.plugin is plugin)
            )
            if unknown:
                raise PluginError(f"plugin {info.label} implements unknown hook(s): {', '.join(unknown)}")
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:  # backstop: anything the loop above missed
            raise PluginError(f"plugin {self._pm.get_name(exc.plugin)!r} is invalid: {exc}") from exc

    # ---- calling hooks (each plugin on its own, in load order) ----

    def _call(self, hook: str, info: PluginInfo, plugin: object, **kwargs: Any) -> list[Any]:
        others = [obj for _, obj in self._loaded if obj is not plugin]
        caller = self._pm.subset_hook_caller(hook, remove_plugins=others)
        try:
            return caller(**kwargs)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {info.label} failed in {hook}: {exc!r}") from exc

    def _require_loaded(self) -> None:
        if not self._is_loaded:
            raise RuntimeError("PluginManager.load() must be called first")

    def registries(self) -> Registries:
        """Run every ``register_*`` hook once (the first call), then return the frozen
        registries. The gateway calls this once at start-up.

        Raises:
            PluginError: a duplicate name (naming both plugins), a bad registration, or a
                plugin that raised.
        """
        self._require_loaded()
        if self._registries is None:
            built: dict[str, Any] = {}
            for hook, (attr, kind) in _REGISTRY_HOOKS.items():
                registry: Registry[Any] = Registry(kind)
                for info, plugin in self._loaded:
                    self._call(hook, info, plugin, register=registry.register_for(info.label))
                registry.freeze()
                built[attr] = registry
            routes = RouteTable()
            for info, plugin in self._loaded:
                self._call("register_routes", info, plugin, register=routes.register_for(info.label))
            routes.freeze()
            self._registries = Registries(routes=routes, **built)
        return self._registries

    # One typed method per hook, for call sites that want a single registry.
    def register_providers(self) -> Registry[Provider]:
        """Providers registered by all enabled plugins (runs the registration hooks once)."""
        return self.registries().providers

    def register_auth_backends(self) -> Registry[AuthBackend]:
        """Auth backends registered by all enabled plugins."""
        return self.registries().auth_backends

    def register_loggers(self) -> Registry[Logger]:
        """Loggers registered by all enabled plugins."""
        return self.registries().loggers

    def register_caches(self) -> Registry[Cache]:
        """Caches registered by all enabled plugins."""
        return self.registries().caches

    def register_rate_limiters(self) -> Registry[RateLimiter]:
        """Rate limiters registered by all enabled plugins."""
        return self.registries().rate_limiters

    def register_routes(self) -> RouteTable:
        """HTTP routes registered by all enabled plugins."""
        return self.registries().routes

    def register_commands(self, cli: click.Group) -> None:
        """Let every enabled plugin add subcommands to `cli` (once per `aigw` invocation)."""
        self._require_loaded()
        for info, plugin in self._loaded:
            before = set(cli.commands)
            self._call("register_commands", info, plugin, cli=cli)
            self._commands[info.name] = sorted(set(cli.commands) - before)

    async def gateway_startup(self, gateway: Any) -> None:
        """Call every plugin's ``gateway_startup`` in load order, awaiting awaitables one by one.

        Raises:
            PluginError: a plugin raised (the gateway should then call `gateway_shutdown`,
                which reaches only the plugins that started).
        """
        self._require_loaded()
        for info, plugin in self._loaded:
            for result in self._call("gateway_startup", info, plugin, gateway=gateway):
                if inspect.isawaitable(result):
                    try:
                        await result
                    except Exception as exc:
                        raise PluginError(f"plugin {info.label} failed in gateway_startup: {exc!r}") from exc
            self._started.append((info, plugin))

    async def gateway_shutdown(self, gateway: Any) -> None:
        """Call ``gateway_shutdown`` of every plugin whose start-up ran, in reverse order.
        A failure is logged and does not stop the others."""
        while self._started:
            info, plugin = self._started.pop()
            try:
                for result in self._call("gateway_shutdown", info, plugin, gateway=gateway):
                    if inspect.isawaitable(result):
                        await result
            except Exception:
                log.exception("plugin %s failed in gateway_shutdown", info.label)

    # ---- introspection ----

    def list_plugins(self) -> list[PluginInfo]:
        """Every built-in, installed and inline plugin, enabled or not, with what each enabled
        one registers (runs the registration hooks if they have not run)."""
        self._require_loaded()
        regs = self.registries()
        kinds: dict[str, Registry[Any] | RouteTable] = {
            "providers": regs.providers,
            "auth_backends": regs.auth_backends,
            "loggers": regs.loggers,
            "caches": regs.caches,
            "rate_limiters": regs.rate_limiters,
            "routes": regs.routes,
        }
        out = []
        for candidate in self._candidates:
            info = candidate.info
            if info.enabled:
                registers = {kind: reg.by_plugin(info.label) for kind, reg in kinds.items()}
                if info.name in self._commands:
                    registers["commands"] = self._commands[info.name]
                info = replace(info, registers={k: v for k, v in registers.items() if v})
            out.append(info)
        return out

    def loaded(self) -> list[str]:
        """Names of the loaded plugins, in load order."""
        return [info.name for info, _ in self._loaded]


def _identity(obj: object) -> object:
    return obj


def load_plugins(enabled: Sequence[str] = ("*",), **options: Any) -> PluginManager:
    """A loaded `PluginManager` (see its docstring for `enabled` and the options)."""
    return PluginManager(enabled, **options).load()


# Plugins every PluginManager created while they are listed also loads (inline, always
# enabled). Only `aigw.testing.register_plugin` touches this.
_INLINE_PLUGINS: list[tuple[str, object]] = []
