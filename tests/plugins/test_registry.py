"""Registry[T] and RouteTable: name → factory, duplicates named, frozen after start-up."""

from __future__ import annotations

import pytest

from aigw import HttpResponse, PluginContext, PluginError
from aigw.registry import Registry, RouteTable


def factory(ctx: PluginContext) -> str:
    return f"built {ctx.name}"


def context(name: str) -> PluginContext:
    return PluginContext(name=name, config={}, settings=None, data_dir=None)


async def handler(request) -> HttpResponse:
    return HttpResponse()


def test_a_registered_factory_is_built_with_the_context():
    registry: Registry[str] = Registry("provider")
    registry.add("openai", factory, plugin="'a'")
    assert registry.create("openai", context("openai")) == "built openai"


def test_the_register_callable_attributes_each_entry_to_its_plugin():
    registry: Registry[str] = Registry("logger")
    registry.register_for("'a'")("sqlite", factory)
    registry.register_for("'b'")("stdout", factory)
    assert (registry.by_plugin("'a'"), registry.by_plugin("'b'")) == (["sqlite"], ["stdout"])


def test_a_duplicate_name_is_refused_naming_both_plugins():
    registry: Registry[str] = Registry("cache")
    registry.add("memory", factory, plugin="'first' (aigw 0.1.0)")
    with pytest.raises(PluginError, match=r"cache 'memory' is registered twice: by plugin 'first' \(aigw 0.1.0\) and by plugin 'second'"):
        registry.add("memory", factory, plugin="'second'")


def test_a_frozen_registry_refuses_registrations():
    registry: Registry[str] = Registry("provider")
    registry.freeze()
    with pytest.raises(PluginError, match="after start-up"):
        registry.add("late", factory, plugin="'p'")


@pytest.mark.parametrize("name", ["", "has space", "-leading", "a*b", 3])
def test_malformed_names_are_refused(name):
    with pytest.raises(PluginError, match="invalid name"):
        Registry("provider").add(name, factory, plugin="'p'")


def test_a_non_callable_factory_is_refused():
    with pytest.raises(PluginError, match="non-callable factory"):
        Registry("provider").add("x", "not a factory", plugin="'p'")


def test_a_family_name_covers_every_slug_with_its_prefix_but_an_exact_name_wins():
    registry: Registry[str] = Registry("provider")
    registry.add("custom-*", factory, plugin="'family'")
    registry.add("custom-special", factory, plugin="'exact'")
    assert registry["custom-local"].plugin == "'family'"
    assert registry["custom-special"].plugin == "'exact'"
    assert "other" not in registry


def test_the_longest_family_wins():
    registry: Registry[str] = Registry("provider")
    registry.add("custom-*", factory, plugin="'short'")
    registry.add("custom-eu-*", factory, plugin="'long'")
    assert registry["custom-eu-west"].plugin == "'long'"


def test_building_an_unregistered_name_raises_key_error():
    with pytest.raises(KeyError):
        Registry("provider").create("missing", context("missing"))


def test_a_route_is_matched_by_exact_method_and_path():
    routes = RouteTable()
    routes.add("post", "/__echo/chat/completions", handler, plugin="'echo'")
    assert routes.match("POST", "/__echo/chat/completions").handler is handler
    assert routes.match("GET", "/__echo/chat/completions") is None
    assert routes.paths() == {"/__echo/chat/completions"}


@pytest.mark.parametrize(("method", "path"), [("GET", "relative"), ("GET", "/has space"), ("G3T", "/x"), ("", "/x")])
def test_malformed_routes_are_refused(method, path):
    with pytest.raises(PluginError, match="invalid"):
        RouteTable().add(method, path, handler, plugin="'p'")


def test_a_frozen_route_table_refuses_routes():
    routes = RouteTable()
    routes.freeze()
    with pytest.raises(PluginError, match="after start-up"):
        routes.add("GET", "/late", handler, plugin="'p'")
