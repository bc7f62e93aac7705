"""aigw-redis when Redis goes away and comes back (a real redis-server killed and restarted on
the same port): the cache degrades to MISS, the limiter follows `on_error`, nothing waits longer
than the timeout, and both recover once Redis is back."""

from __future__ import annotations

import asyncio
import time

import pytest

from aigw.secret import Secret
from aigw.testing.servers import find_redis, redis_server
from aigw.types import CachedResponse

aigw_redis = pytest.importorskip("aigw_redis", reason="aigw-redis is not installed (pip install ./plugins/aigw-redis)")
pytestmark = pytest.mark.skipif(find_redis() is None, reason="redis-server is not installed (apt-get install redis-server)")


@pytest.fixture
def own_redis(tmp_path):
    with redis_server(tmp_path) as server:
        yield server


def settings(url, **kw):
    return aigw_redis.RedisSettings(url=Secret(url), timeout=0.2, backoff_max=0.2, **kw)


async def wait_recovered(component, probe, deadline=5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        await probe()
        if component.backoff.healthy:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("did not recover")


async def test_the_cache_answers_miss_while_redis_is_down_and_hits_again_after(own_redis):
    cache = aigw_redis.RedisCache(settings(own_redis.url))
    await cache.start()
    try:
        await cache.set("k", CachedResponse(200, "text/plain", b"v"), 60)
        own_redis.stop()
        started = time.monotonic()
        assert await cache.get("k") is None
        await cache.set("k2", CachedResponse(200, "text/plain", b"v2"), 60)  # dropped, no error
        assert time.monotonic() - started < 1.0
        own_redis.start()  # empty again: no persistence
        await wait_recovered(cache, lambda: cache.get("k"))
        await cache.set("k", CachedResponse(200, "text/plain", b"back"), 60)
        assert (await cache.get("k")).body == b"back"
    finally:
        await cache.aclose()


@pytest.mark.parametrize("policy, allowed", [("allow", True), ("deny", False)])
async def test_the_limiter_fails_open_or_closed_as_configured_without_waiting(own_redis, policy, allowed):
    limiter = aigw_redis.RedisRateLimiter(settings(own_redis.url, on_error=policy))
    await limiter.start()
    try:
        assert (await limiter.hit("g", 1, 60, "fixed")).allowed
        own_redis.stop()
        started = time.monotonic()
        decisions = await asyncio.gather(*(limiter.hit("g", 1, 60, "fixed") for _ in range(50)))
        assert time.monotonic() - started < 1.0
        assert {d.allowed for d in decisions} == {allowed}
        own_redis.start()
        await wait_recovered(limiter, lambda: limiter.hit("h", 1000, 60, "fixed"))
        assert (await limiter.hit("g", 1, 60, "fixed")).allowed  # counts restarted with the empty Redis
        assert not (await limiter.hit("g", 1, 60, "fixed")).allowed
    finally:
        await limiter.aclose()


async def test_start_up_with_redis_down_starts_degraded_instead_of_failing(tmp_path):
    with redis_server(tmp_path) as server:
        url = server.url
    limiter = aigw_redis.RedisRateLimiter(settings(url, on_error="deny"))
    await limiter.start()
    try:
        assert not limiter.backoff.healthy
        assert not (await limiter.hit("g", 5, 60, "fixed")).allowed
    finally:
        await limiter.aclose()
