"""aigw-redis: a cache and a rate limiter in Redis, shared by every `aigw serve` process.

Registers the cache `redis` and the rate limiter `redis`; choose them explicitly::

    [cache]
    backend = "redis"
    [rate_limit]
    backend = "redis"
    [plugins.redis]
    url = "env:AIGW_REDIS_URL"

Settings: aigw_redis.settings; cache: aigw_redis.cache; limiter: aigw_redis.limiter.
"""

from __future__ import annotations

from pathlib import Path

from aigw import hookimpl
from aigw.types import PluginContext
from aigw_redis.cache import RedisCache
from aigw_redis.limiter import RedisRateLimiter
from aigw_redis.settings import RedisSettings

__all__ = ["RedisCache", "RedisRateLimiter", "RedisSettings"]


def _settings(ctx: PluginContext) -> RedisSettings:
    base = Path(ctx.settings.source).parent if getattr(ctx.settings, "source", None) else None
    return RedisSettings.from_config(ctx.name, ctx.config, base)


@hookimpl
def register_caches(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `redis` cache."""
    register("redis", lambda ctx: RedisCache(_settings(ctx)))


@hookimpl
def register_rate_limiters(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `redis` rate limiter."""
    register("redis", lambda ctx: RedisRateLimiter(_settings(ctx)))
