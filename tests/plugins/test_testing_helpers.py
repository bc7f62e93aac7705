"""aigw.testing.plugins: the plugin_manager fixture and register_plugin()."""

from __future__ import annotations

import pytest

from aigw import hookimpl
from aigw.plugins import BUILTIN_PLUGINS, load_plugins
from aigw.testing.plugins import register_plugin


class Widgets:
    """An inline plugin registering provider "widgets"."""

    @hookimpl
    def register_providers(self, register):
        register("widgets", lambda ctx: object())


def test_the_fixture_loads_the_builtins_and_no_entry_point_plugin_by_default(plugin_manager):
    assert plugin_manager.loaded() == list(BUILTIN_PLUGINS)


@pytest.mark.aigw_plugins(Widgets())
def test_the_fixture_registers_plugin_objects_named_by_the_marker(plugin_manager):
    assert "widgets" in plugin_manager.register_providers()


def test_register_plugin_adds_a_plugin_to_every_manager_loaded_inside_the_block():
    with register_plugin(Widgets(), name="widgets-plugin") as name:
        inside = load_plugins([], environ={})
    after = load_plugins([], environ={})
    assert name in inside.loaded() and "widgets" in inside.register_providers()
    assert "widgets" not in after.register_providers()


def test_register_plugin_is_removed_even_when_the_block_raises():
    with pytest.raises(RuntimeError), register_plugin(Widgets(), name="leaky"):
        raise RuntimeError("test body failed")
    assert "leaky" not in load_plugins([], environ={}).loaded()
