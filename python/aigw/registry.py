"""Registries: what the `register_*` hooks fill at start-up and the gateway reads afterwards.

A `Registry[T]` maps a name ("openai", "sqlite", "custom-*") to a factory
``factory(ctx: PluginContext) -> T``; a `RouteTable` maps (method, path pattern) to a route
handler (see `aigw.api.router`).
Both remember which plugin registered each entry, refuse a second entry under the same name
(the error names both plugins), and are frozen once start-up has collected them, so nothing
registers on the request path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Generic, Iterator, TypeVar

from aigw.api.router import Route, RouteMatch, Router
from aigw.errors import PluginError
from aigw.types import HttpRequest, HttpResponse, PluginContext

T = TypeVar("T")

#: What a plugin registers for a provider, auth backend, logger, cache or rate limiter.
Factory = Callable[[PluginContext], Any]
#: The callable a `register_*` hook receives: ``register(name, factory)``.
Register = Callable[[str, Factory], None]
#: A plugin route: called with the whole request, answers with a response.
RouteHandler = Callable[[HttpRequest], Awaitable[HttpResponse]]
#: The callable `register_routes` receives: ``register(method, path, handler, *, public=False)``.
RouteRegister = Callable[..., None]

# A name is a slug, optionally ending in "*" to cover a family ("custom-*").
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]*\*?|\*")
_PATH = re.compile(r"/[!-~]*")  # absolute, printable ASCII, no spaces


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """One registration: the name, the factory and the plugin that registered it."""

    name: str
    factory: Callable[[PluginContext], T]
    plugin: str  # the plugin's label, e.g. "echo (aigw-echo 0.1.0)"


class Registry(Generic[T]):
    """name → factory for one kind of plugin object (`kind` is "provider", "logger", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._frozen = False

    # -- filling (start-up only) --
    def add(self, name: str, factory: Callable[[PluginContext], T], *, plugin: str) -> None:
        """Register `factory` under `name` for `plugin`.

        Raises:
            PluginError: the name is malformed or already taken (naming both plugins), the
                factory is not callable, or the registry is frozen.
        """
        if self._frozen:
            raise PluginError(f"plugin {plugin} registered {self.kind} {name!r} after start-up")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(f"plugin {plugin} registered a {self.kind} with an invalid name {name!r}")
        if not callable(factory):
            raise PluginError(f"plugin {plugin} registered {self.kind} {name!r} with a non-callable factory")
        previous = self._entries.get(name)
        if previous is not None:
            raise PluginError(
                f"{self.kind} {name!r} is registered twice: by plugin {previous.plugin} and by plugin {plugin}"
            )
        self._entries[name] = Entry(name, factory, plugin)

    def register_for(self, plugin: str) -> Register:
        """The `register(name, factory)` callable handed to one plugin's hook implementation."""

        def register(name: str, factory: Callable[[PluginContext], T]) -> None:
            self.add(name, factory, plugin=plugin)

        return register

    def freeze(self) -> None:
        """Refuse further registrations (called once start-up has run every hook)."""
        self._frozen = True

    @property
    def frozen(self) -> bool:
        """Whether start-up is over for this registry."""
        return self._frozen

    # -- reading --
    def lookup(self, name: str) -> Entry[T] | None:
        """The entry for `name`: an exact match, else the longest `prefix*` family that covers
        it ("custom-local" → "custom-*"), else None."""
        entry = self._entries.get(name)
        if entry is not None:
            return entry
        best: Entry[T] | None = None
        for key, candidate in self._entries.items():
            if key.endswith("*") and name.startswith(key[:-1]) and (best is None or len(key) > len(best.name)):
                best = candidate
        return best

    def create(self, name: str, ctx: PluginContext) -> T:
        """Build the object registered for `name` (see `lookup`) with `ctx`.

        Raises:
            KeyError: nothing is registered under that name.
        """
        entry = self.lookup(name)
        if entry is None:
            raise KeyError(name)
        return entry.factory(ctx)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.lookup(name) is not None

    def __getitem__(self, name: str) -> Entry[T]:
        entry = self.lookup(name)
        if entry is None:
            raise KeyError(name)
        return entry

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(list(self._entries.values()))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        """Registered names in registration order."""
        return list(self._entries)

    def by_plugin(self, plugin: str) -> list[str]:
        """Names registered by one plugin (for `aigw plugins`)."""
        return [e.name for e in self._entries.values() if e.plugin == plugin]

    def __repr__(self) -> str:
        return f"<Registry {self.kind} {self.names()}{' frozen' if self._frozen else ''}>"


class RouteTable:
    """The routes plugins add (`register_routes`): method + path pattern → handler.

    Patterns and methods are the router's (`aigw.api.router`): ``"/metrics"``,
    ``"/v1/{account}/{gateway}/my-plugin/{rest:path}"``; ``"GET"``, ``"*"`` (any HTTP method),
    ``"WEBSOCKET"``. A route is authenticated like every gateway route unless registered with
    ``public=True``. The gateway merges this table with its own routes into one router at
    start-up, where a clash with a built-in route also stops start-up.
    """

    def __init__(self) -> None:
        self._router = Router()
        self._frozen = False

    def add(self, method: str, path: str, handler: RouteHandler, *, plugin: str, public: bool = False) -> None:
        """Register `handler` for `method path` for `plugin`.

        Raises:
            PluginError: bad method or pattern, a non-callable handler, a route already taken
                (naming both plugins), or a frozen table.
        """
        if self._frozen:
            raise PluginError(f"plugin {plugin} registered route {method} {path} after start-up")
        if not isinstance(path, str) or not _PATH.fullmatch(path):
            raise PluginError(f"plugin {plugin} registered a route with an invalid path {path!r}")
        if not callable(handler):
            raise PluginError(f"plugin {plugin} registered route {method} {path} with a non-callable handler")
        if not isinstance(public, bool):
            raise PluginError(f"plugin {plugin} registered route {method} {path} with public={public!r} (True or False)")
        self._router.add(method, path, handler, owner=f"plugin {plugin}", public=public)

    def register_for(self, plugin: str) -> RouteRegister:
        """The `register(method, path, handler, *, public=False)` callable handed to one
        plugin's hook."""

        def register(method: str, path: str, handler: RouteHandler, *, public: bool = False) -> None:
            self.add(method, path, handler, plugin=plugin, public=public)

        return register

    def freeze(self) -> None:
        """Refuse further routes."""
        self._frozen = True

    @property
    def frozen(self) -> bool:
        """Whether start-up is over for this table."""
        return self._frozen

    def match(self, method: str, path: str) -> Route | None:
        """The route a plain HTTP `method path` request reaches, or None."""
        found = self._router.resolve(method.upper(), path)
        return found.route if isinstance(found, RouteMatch) else None

    def paths(self) -> set[str]:
        """Every registered pattern."""
        return {r.pattern for r in self._router}

    def __iter__(self) -> Iterator[Route]:
        return iter(list(self._router))

    def __len__(self) -> int:
        return len(self._router)

    def by_plugin(self, plugin: str) -> list[str]:
        """"METHOD /pattern" of each route one plugin registered, marked when it is public
        (for `aigw plugins`)."""
        owner = f"plugin {plugin}"
        return [r.describe() for r in self._router if r.owner == owner]
