"""Every hook an aigw plugin may implement: the plugin author's manual.

A plugin is a module (or any object) with functions marked ``@aigw.hookimpl`` whose names are
the specs below; it may implement any subset. Two kinds of hook exist:

* ``register_*(register)``: called once at start-up; the plugin calls ``register(...)`` for each
  thing it provides and returns nothing. Registering a name another plugin took stops start-up
  with an error naming both. Per-request work then happens in the registered objects (the
  Protocols in ``aigw.interfaces``), never through pluggy.
* ``gateway_startup`` / ``gateway_shutdown``: lifecycle; may return an awaitable, which the
  gateway awaits before calling the next plugin.

Common rules:

* **Order.** Each plugin's implementation is called on its own, in load order: the built-ins in
  ``aigw.plugins.BUILTIN_PLUGINS`` order, then entry-point plugins sorted by name, then plugins
  added by ``aigw.testing.register_plugin``. ``gateway_shutdown`` runs in reverse.
  ``tryfirst``/``trylast`` do not change this order (a built-in that wants to be overridable
  simply registers a name another plugin does not).
* **Errors.** An exception raised by an implementation stops start-up as a ``PluginError``
  naming the plugin.
* **Wrappers.** ``wrapper=True`` implementations only wrap their own plugin's call (because each
  plugin is called on its own); use them for instrumentation only.
* **Arguments.** An implementation may accept a subset of a spec's arguments, by name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable

import pluggy

if TYPE_CHECKING:
    import click

    from aigw.registry import Register, RouteRegister

hookspec = pluggy.HookspecMarker("aigw")


# ---- registries: called once at start-up, collect-all, return nothing ----


@hookspec
def register_providers(register: Register) -> None:
    """Register AI providers: ``register(name, factory)``.

    Called once per gateway start-up, before anything is served; every enabled plugin's
    implementation runs (collect-all); return nothing.

    ``name`` is the provider slug clients use in paths and Universal steps ("openai"); a name
    ending in ``*`` ("custom-*") covers every slug with that prefix not registered exactly.
    ``factory(ctx: PluginContext)`` is called for each configured use of the provider and must
    return an ``aigw.Provider``; ``ctx.name`` is the slug and ``ctx.config`` its
    ``[providers.<slug>]`` section.
    """


@hookspec
def register_auth_backends(register: Register) -> None:
    """Register backends that authenticate gateway clients: ``register(name, factory)``.

    Called once per gateway start-up; collect-all; return nothing. ``factory(ctx)`` returns an
    ``aigw.AuthBackend``. Provider credentials are not auth backends: they stay in providers.
    """


@hookspec
def register_loggers(register: Register) -> None:
    """Register request-log sinks: ``register(name, factory)``.

    Called once per gateway start-up; collect-all; return nothing. ``factory(ctx)`` returns an
    ``aigw.Logger``; its ``log`` runs on the event loop and must not block.
    """


@hookspec
def register_caches(register: Register) -> None:
    """Register response caches: ``register(name, factory)``.

    Called once per gateway start-up; collect-all; return nothing. ``factory(ctx)`` returns an
    ``aigw.Cache``.
    """


@hookspec
def register_rate_limiters(register: Register) -> None:
    """Register rate limiters: ``register(name, factory)``.

    Called once per gateway start-up; collect-all; return nothing. ``factory(ctx)`` returns an
    ``aigw.RateLimiter``.
    """


@hookspec
def register_routes(register: RouteRegister) -> None:
    """Register extra endpoints: ``register(method, path, handler, *, public=False)``.

    Called once per gateway start-up; collect-all; return nothing.

    ``method`` is an HTTP method ("GET"), ``"*"`` (any HTTP method) or ``"WEBSOCKET"`` (an
    upgrade request). ``path`` is a pattern, as for the gateway's own routes (one router holds
    both, see ``aigw.api.router``): literal segments, ``{name}`` (one segment) and, last,
    ``{name:path}`` (the rest), e.g. ``"/metrics"`` or
    ``"/v1/{account}/{gateway}/my-plugin/{rest:path}"``; a request path may add one trailing
    ``/``. ``handler`` is ``async (aigw.HttpRequest) -> aigw.HttpResponse``; the request
    carries ``params`` (the pattern's parameters), ``gateway`` and ``principal``. A WEBSOCKET
    handler returns an ``aigw.server.app.WebSocketHandler`` to accept, or an ``aigw.HttpResponse``
    to refuse.

    **Authenticated by default.** Before the handler runs, the gateway resolves the gateway (the
    ``{gateway}`` parameter; ``default`` for a path without one) and, when that gateway requires
    authentication, checks the caller's token (``cf-aig-authorization: Bearer``, or the
    ``cf-aig-authorization.<token>`` subprotocol on upgrades): 404 (2001) for an unknown
    gateway, 401 (2009) without a valid token, and the handler never runs. ``public=True`` opts
    out (no gateway, no token, ``principal`` None); ``aigw plugins`` lists public routes as such.

    Two routes with the same method and pattern shape (by two plugins, or a plugin and the
    gateway) stop start-up with an error naming both; where patterns overlap, the more specific
    one (literal before parameter) answers.
    """


# ---- command line: called once per `aigw` invocation ----


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``aigw`` command line: ``cli.add_command(...)`` or
    ``@cli.command()``.

    Called once per ``aigw`` invocation, before arguments are parsed; collect-all; return
    nothing. Import heavy dependencies inside the command, not at module level: every ``aigw``
    run loads every enabled plugin.
    """


# ---- lifecycle: called once per gateway start and stop ----


@hookspec
def gateway_startup(gateway: Any) -> Awaitable[None] | None:
    """The gateway (``aigw.gateway.Gateway``) has built its registries and plugin objects and
    is about to serve.

    Called once per start, in load order; collect-all. Return None, or an awaitable (e.g. make
    the implementation ``async def``) which the gateway awaits before calling the next plugin.
    An exception stops start-up.
    """


@hookspec
def gateway_shutdown(gateway: Any) -> Awaitable[None] | None:
    """The gateway has stopped serving and is releasing resources.

    Called once per stop (only if ``gateway_startup`` ran), in reverse load order;
    collect-all. Return None or an awaitable, which the gateway awaits. An exception is logged
    and the remaining plugins still run.
    """
