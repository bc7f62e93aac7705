"""The embedded cache and rate limiter load as built-in plugins named "memory"."""

from __future__ import annotations

from aigw.builtins.memory_cache import MemoryCache
from aigw.builtins.window_limiter import WindowRateLimiter
from aigw.interfaces import Cache, RateLimiter
from aigw.plugins import BUILTIN_PLUGINS, PluginManager
from aigw.types import CachedResponse, PluginContext


def context(**config) -> PluginContext:
    return PluginContext(name="memory", config=config, settings=None, data_dir=None)  # type: ignore[arg-type]


def built_ins() -> PluginManager:
    return PluginManager([], builtins=BUILTIN_PLUGINS, environ={}, entry_points=False).load()


def test_both_modules_are_built_in_plugins():
    assert {"aigw.builtins.memory_cache", "aigw.builtins.window_limiter"} <= set(BUILTIN_PLUGINS)


def test_the_plugin_manager_offers_the_memory_cache():
    cache = built_ins().register_caches().create("memory", context(max_entries=7))
    assert isinstance(cache, MemoryCache) and isinstance(cache, Cache) and cache.max_entries == 7


def test_the_plugin_manager_offers_the_memory_rate_limiter():
    limiter = built_ins().register_rate_limiters().create("memory", context(max_keys=7))
    assert isinstance(limiter, WindowRateLimiter) and isinstance(limiter, RateLimiter) and limiter.max_keys == 7


def test_aigw_plugins_lists_what_each_module_registers():
    registers = {info.name: info.registers for info in built_ins().list_plugins()}
    assert registers["aigw.builtins.memory_cache"] == {"caches": ["memory"]}
    assert registers["aigw.builtins.window_limiter"] == {"rate_limiters": ["memory"]}


def test_disabling_the_cache_plugin_leaves_no_memory_cache():
    pm = PluginManager([], environ={"AIGW_DISABLE_PLUGINS": "aigw.builtins.memory_cache"}, entry_points=False).load()
    assert "memory" not in pm.register_caches() and "memory" in pm.register_rate_limiters()


async def test_objects_from_the_registries_serve_requests(clear_of_window_edge):
    await clear_of_window_edge(60)  # both hits in one fixed window
    registries = built_ins().registries()
    cache = registries.caches.create("memory", context())
    limiter = registries.rate_limiters.create("memory", context())
    await cache.set("k", CachedResponse(200, "application/json", b"{}"), 60)
    assert (await cache.get("k")) is not None
    assert (await limiter.hit("gateway:default", 1, 60, "fixed")).allowed
    assert not (await limiter.hit("gateway:default", 1, 60, "fixed")).allowed
