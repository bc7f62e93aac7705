"""The `memory` cache: LRU order, entry and byte bounds, TTL expiry, size accounting."""

from __future__ import annotations

import math

import pytest

from aigw.builtins.memory_cache import ENTRY_OVERHEAD, MIB, SWEEP_STEP, MemoryCache, entry_size
from aigw.errors import ConfigError
from aigw.types import CachedResponse, PluginContext

JSON = "application/json"


def answer(body: bytes = b'{"ok":true}', headers: list[tuple[str, str]] | None = None) -> CachedResponse:
    return CachedResponse(200, JSON, body, headers or [])


def sized(key: str, size: int) -> CachedResponse:
    """A response whose entry under `key` is accounted exactly `size` bytes."""
    return answer(b"x" * (size - ENTRY_OVERHEAD - len(key) - len(JSON)))


async def test_a_stored_response_is_returned_as_stored(clock):
    cache = MemoryCache(clock=clock)
    value = answer(headers=[("x-id", "1")])
    await cache.set("k", value, 60)
    assert await cache.get("k") is value


async def test_an_unknown_key_is_a_miss(clock):
    assert await MemoryCache(clock=clock).get("nope") is None


async def test_an_entry_is_served_until_its_ttl_runs_out(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), 60)
    clock.now = 59.999
    assert await cache.get("k") is not None
    clock.now = 60.0
    assert await cache.get("k") is None


async def test_reading_an_expired_entry_frees_its_bytes(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), 10)
    clock.advance(10)
    await cache.get("k")
    assert len(cache) == 0 and cache.size_bytes == 0 and cache.stats.expired == 1


async def test_an_infinite_ttl_keeps_the_entry_until_evicted(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), math.inf)
    clock.now = 1e12
    assert await cache.get("k") is not None


@pytest.mark.parametrize("ttl", [0, -1, math.nan], ids=["zero", "negative", "nan"])
async def test_a_ttl_that_is_not_positive_stores_nothing(clock, ttl):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), ttl)
    assert await cache.get("k") is None and len(cache) == 0 and cache.stats.refused == 1


async def test_past_max_entries_the_least_recently_used_entry_goes(clock):
    cache = MemoryCache(max_entries=2, clock=clock)
    await cache.set("a", answer(), 60)
    await cache.set("b", answer(), 60)
    await cache.get("a")  # now b is the least recently used
    await cache.set("c", answer(), 60)
    assert [await cache.get(k) is not None for k in "abc"] == [True, False, True]
    assert cache.stats.evicted == 1


async def test_past_max_bytes_least_recently_used_entries_go_until_it_fits(clock):
    cache = MemoryCache(max_bytes=3000, clock=clock)
    for key in "abc":
        await cache.set(key, sized(key, 1000), 60)
    await cache.get("a")  # order of use, oldest first: b, c, a
    await cache.set("d", sized("d", 2000), 60)  # needs b and c out
    assert [await cache.get(k) is not None for k in "abcd"] == [True, False, False, True]
    assert cache.size_bytes == 3000 and cache.stats.evicted == 2


async def test_an_entry_over_max_entry_bytes_is_refused_and_evicts_nothing(clock):
    cache = MemoryCache(max_entry_bytes=1000, clock=clock)
    await cache.set("small", sized("small", 1000), 60)
    await cache.set("big", sized("big", 1001), 60)
    assert await cache.get("big") is None
    assert await cache.get("small") is not None and cache.stats.refused == 1


async def test_an_entry_over_max_bytes_is_refused_even_under_the_entry_cap(clock):
    cache = MemoryCache(max_bytes=1000, max_entry_bytes=5000, clock=clock)
    await cache.set("small", sized("small", 500), 60)
    await cache.set("big", sized("big", 1001), 60)
    assert await cache.get("big") is None and await cache.get("small") is not None


async def test_by_default_a_body_over_25_mib_is_not_cached(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("fits", answer(b"x" * (25 * MIB - 1024)), 60)
    await cache.set("too-big", answer(b"x" * (25 * MIB)), 60)
    assert await cache.get("fits") is not None and await cache.get("too-big") is None


async def test_overwriting_a_key_accounts_only_the_new_size(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", sized("k", 5000), 60)
    await cache.set("k", sized("k", 700), 60)
    assert len(cache) == 1 and cache.size_bytes == 700


async def test_overwriting_restarts_the_ttl(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(b"old"), 10)
    clock.now = 8
    await cache.set("k", answer(b"new"), 10)
    clock.now = 15
    hit = await cache.get("k")
    assert hit is not None and hit.body == b"new"


async def test_an_oversize_overwrite_leaves_no_stale_answer_behind(clock):
    cache = MemoryCache(max_entry_bytes=1000, clock=clock)
    await cache.set("k", sized("k", 500), 60)
    await cache.set("k", sized("k", 2000), 60)
    assert await cache.get("k") is None and cache.size_bytes == 0


async def test_an_entry_is_accounted_for_its_body_headers_key_and_overhead():
    value = CachedResponse(200, "text/plain", b"hello", [("x-a", "12")])
    assert entry_size("key", value) == ENTRY_OVERHEAD + 3 + 5 + len("text/plain") + 3 + 2


async def test_expired_entries_nobody_reads_are_swept_by_later_writes(clock):
    cache = MemoryCache(clock=clock)
    for n in range(100):
        await cache.set(f"old{n}", answer(), 10)
    clock.now = 20
    fresh = 0
    for n in range(100 // SWEEP_STEP):
        await cache.set(f"new{n}", answer(), 1000)
        fresh += entry_size(f"new{n}", answer())
    assert len(cache) == 100 // SWEEP_STEP and cache.size_bytes == fresh
    assert cache.stats.expired == 100


async def test_the_sweep_keeps_live_entries(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("live", answer(), 1000)
    for n in range(50):
        await cache.set(f"other{n}", answer(), 1000)
    assert await cache.get("live") is not None and cache.stats.expired == 0


async def test_delete_forgets_a_key_and_says_whether_it_was_live(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), 60)
    assert await cache.delete("k") is True
    assert await cache.get("k") is None and cache.size_bytes == 0
    assert await cache.delete("k") is False


async def test_clear_forgets_everything(clock):
    cache = MemoryCache(clock=clock)
    for key in "abc":
        await cache.set(key, answer(), 60)
    cache.clear()
    assert len(cache) == 0 and cache.size_bytes == 0 and await cache.get("a") is None


async def test_stats_count_hits_and_misses(clock):
    cache = MemoryCache(clock=clock)
    await cache.set("k", answer(), 60)
    await cache.get("k")
    await cache.get("k")
    await cache.get("other")
    assert (cache.stats.hits, cache.stats.misses, cache.stats.stores) == (2, 1, 1)


def context(**config) -> PluginContext:
    return PluginContext(name="memory", config=config, settings=None, data_dir=None)  # type: ignore[arg-type]


def test_config_defaults_are_10000_entries_256_mib_and_25_mib_per_entry():
    cache = MemoryCache.from_context(context())
    assert (cache.max_entries, cache.max_bytes, cache.max_entry_bytes) == (10_000, 256 * MIB, 25 * MIB)


def test_config_keys_set_the_bounds():
    cache = MemoryCache.from_context(context(max_entries=5, max_bytes=4096, max_entry_bytes=1024))
    assert (cache.max_entries, cache.max_bytes, cache.max_entry_bytes) == (5, 4096, 1024)


@pytest.mark.parametrize(
    "config",
    [{"max_entires": 5}, {"max_entries": 0}, {"max_bytes": "1GB"}, {"max_entry_bytes": 1.5}],
    ids=["unknown key", "zero entries", "string bytes", "fractional entry cap"],
)
def test_bad_config_stops_with_a_config_error(config):
    with pytest.raises(ConfigError, match="memory"):
        MemoryCache.from_context(context(**config))
