"""The Cache and RateLimiter contract suites (aigw.testing.contracts) against the built-in
in-process backends and the aigw-redis ones on a real redis-server."""

from __future__ import annotations

import pytest

from aigw.builtins.memory_cache import MemoryCache
from aigw.builtins.window_limiter import WindowRateLimiter
from aigw.secret import Secret
from aigw.testing.contracts import CacheContract, RateLimiterContract

aigw_redis = pytest.importorskip("aigw_redis", reason="aigw-redis is not installed (pip install ./plugins/aigw-redis)")


class TestMemoryCache(CacheContract):
    @pytest.fixture
    async def cache(self):
        return MemoryCache()


class TestMemoryRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiter(self):
        return WindowRateLimiter()


def redis_settings(url: str, **kw):
    return aigw_redis.RedisSettings(url=Secret(url), **kw)


class TestRedisCache(CacheContract):
    @pytest.fixture
    async def cache(self, redis_proc):
        cache = aigw_redis.RedisCache(redis_settings(redis_proc.url))
        await cache.start()
        yield cache
        await cache.aclose()


class TestRedisRateLimiter(RateLimiterContract):
    @pytest.fixture
    async def limiter(self, redis_proc):
        limiter = aigw_redis.RedisRateLimiter(redis_settings(redis_proc.url))
        await limiter.start()
        yield limiter
        await limiter.aclose()
