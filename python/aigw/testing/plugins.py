"""pytest helpers for plugin authors and aigw's own tests: load plugins, register one for a test.

Use them from a conftest.py::

    from aigw.testing.plugins import plugin_manager, pytest_configure  # noqa: F401

(the ``aigw.testing.fixtures`` pytest11 plugin can load this module for everyone with
``pytest_plugins = ["aigw.testing.plugins"]``). Then::

    @pytest.mark.aigw_plugins("echo")            # entry-point names to enable
    def test_echo_registers_a_provider(plugin_manager):
        assert "echo" in plugin_manager.register_providers()

    def test_my_hooks():
        with register_plugin(MyPlugin()):   # every PluginManager created inside loads it too
            assert "mine" in load_plugin_manager().register_providers()

Entry-point plugins stay off unless a test names them: the fixtures never depend on what
happens to be installed.
"""

from __future__ import annotations

import contextlib
import itertools
from typing import Any, Iterator, Sequence

import pytest

from aigw import plugins as _plugins
from aigw.plugins import BUILTIN_PLUGINS, PluginManager

_counter = itertools.count(1)


def load_plugin_manager(
    *inline: object,
    enabled: Sequence[str] = (),
    builtins: Sequence[str] = BUILTIN_PLUGINS,
    **options: Any,
) -> PluginManager:
    """A loaded PluginManager with the built-ins, the entry-point plugins named in `enabled`,
    and the `inline` plugin objects (modules or instances), ignoring ``AIGW_PLUGINS`` and
    ``AIGW_DISABLE_PLUGINS`` from the test process's environment."""
    named = [(_inline_name(obj), obj) for obj in inline]
    options.setdefault("environ", {})
    return PluginManager(enabled, builtins=builtins, inline=named, **options).load()


@contextlib.contextmanager
def register_plugin(plugin: object, *, name: str | None = None) -> Iterator[str]:
    """Within the block, every PluginManager created also registers `plugin` (a module or an
    object with ``@aigw.hookimpl`` methods), like a built-in that cannot be disabled by config.
    Yields the plugin's name. Nested uses stack; leaving the block removes it."""
    entry = (name or _inline_name(plugin), plugin)
    _plugins._INLINE_PLUGINS.append(entry)
    try:
        yield entry[0]
    finally:
        _plugins._INLINE_PLUGINS.remove(entry)


def _inline_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):  # a module or a class
        return name
    return f"{type(plugin).__name__}-{next(_counter)}"


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``aigw_plugins`` marker (needed under ``--strict-markers``)."""
    config.addinivalue_line(
        "markers",
        "aigw_plugins(*plugins): plugins the plugin_manager fixture loads: entry-point names "
        "(str) to enable, or plugin objects/modules to register inline",
    )


@pytest.fixture
def plugin_manager(request: pytest.FixtureRequest) -> PluginManager:
    """A loaded PluginManager: the built-ins plus the plugins named by the test's
    ``@pytest.mark.aigw_plugins(...)`` marker (strings enable installed entry-point plugins,
    other values are registered inline). Without the marker: built-ins only."""
    marker = request.node.get_closest_marker("aigw_plugins")
    wanted = marker.args if marker else ()
    enabled = [p for p in wanted if isinstance(p, str)]
    inline = [p for p in wanted if not isinstance(p, str)]
    return load_plugin_manager(*inline, enabled=enabled)
