"""The `redis` rate limiter: fixed and sliding windows counted in Redis, exact across processes.

Same windows and same arithmetic as the built-in `memory` limiter (aigw.builtins.window_limiter,
whose docstring explains fixed and sliding windows), but the counts live in Redis and each
decision is ONE Lua script run atomically by Redis: read the key's window state, roll it over
if the window changed, decide, count the request if allowed, write back, set the expiry. No
other command can run in between, so N processes hitting the same key concurrently let through
exactly `limit` per window (no read-modify-write race), and a refused request is not counted.

Time is Redis's (`TIME` inside the script), so gateways on machines whose clocks differ still
share one window. A key's state is one hash ``<key_prefix>rl:{<key>}:<interval ms>`` with fields
i (window index), c (its count) and p (the previous window's count), expiring two windows after
its last use; only that key is touched, as Redis Cluster requires.

Redis down or slow (per `timeout_ms`): the decision follows `on_error`: "allow" (fail open, the
default: an outage of the limiter does not become an outage of the gateway) or "deny" (fail
closed: requests are refused with 2003 and `retry_after` = the back-off pause). Either way the
answer comes within `timeout_ms`, and during the back-off at once.
"""

from __future__ import annotations

import math

from aigw.types import RateDecision
from aigw_redis.connection import REDIS_ERRORS, Backoff, check_at_start, make_client
from aigw_redis.settings import RedisSettings

TECHNIQUES = ("fixed", "sliding")

# KEYS[1] the key's state hash; ARGV limit, interval (ms), technique.
# Returns {allowed (0/1), remaining, retry_after (ms, 0 when allowed)}.
HIT_SCRIPT = """
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local index = math.floor(now / interval)
local state = redis.call('HMGET', KEYS[1], 'i', 'c', 'p')
local i = tonumber(state[1])
local current = tonumber(state[2]) or 0
local previous = tonumber(state[3]) or 0
if i == nil then
  current, previous = 0, 0
elseif i ~= index then
  if i == index - 1 then previous = current else previous = 0 end
  current = 0
end
local start = index * interval
local allowed, remaining, retry = 0, 0, 0
if ARGV[3] == 'fixed' then
  if current < limit then
    current = current + 1
    allowed, remaining = 1, limit - current
  else
    retry = start + interval - now
  end
else
  local weighted = previous * (start + interval - now) / interval + current
  if weighted + 1 <= limit + 1e-9 then
    current = current + 1
    allowed, remaining = 1, math.max(0, math.floor(limit - weighted - 1 + 1e-9))
  elseif current + 1 <= limit then
    retry = start + interval * (1 - (limit - 1 - current) / previous) - now
  else
    retry = start + interval + interval * (1 - (limit - 1) / current) - now
  end
end
redis.call('HSET', KEYS[1], 'i', string.format('%d', index), 'c', current, 'p', previous)
redis.call('PEXPIRE', KEYS[1], 2 * interval + 1000)
return {allowed, remaining, math.ceil(math.max(retry, 0))}
"""


class RedisRateLimiter:
    """An aigw RateLimiter in Redis (see the module docstring)."""

    name = "redis"

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.backoff = Backoff("redis rate limiter", settings.backoff_max)
        self._client = make_client(settings)
        self._script = self._client.script(HIT_SCRIPT)  # EVALSHA, EVAL on NOSCRIPT
        self._prefix = settings.key_prefix + "rl:"

    async def start(self) -> None:
        """Check Redis (see `connection.check_at_start`)."""
        await check_at_start(self._client, self.backoff)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._client.aclose()

    async def hit(self, key: str, limit: int, interval: float, technique: str) -> RateDecision:
        """Count one request for `key` against `limit` per `interval` seconds with `technique`,
        unless refused; one atomic script. Without Redis: the `on_error` policy.

        Raises:
            ValueError: as the memory limiter, for a bad limit, interval or technique.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"rate limit must be an integer >= 1, got {limit!r}")
        if not (isinstance(interval, (int, float)) and 0 < interval < math.inf):
            raise ValueError(f"rate limit interval must be a finite number of seconds > 0, got {interval!r}")
        if technique not in TECHNIQUES:
            raise ValueError(f"rate limit technique must be 'fixed' or 'sliding', got {technique!r}")
        interval_ms = max(1, round(interval * 1000))
        if not self.backoff.allows():
            return self._unavailable()
        try:
            allowed, remaining, retry_ms = await self._script(
                keys=[f"{self._prefix}{{{key}}}:{interval_ms}"], args=[limit, interval_ms, technique]
            )
        except REDIS_ERRORS as exc:
            self.backoff.failed(exc)
            return self._unavailable()
        self.backoff.succeeded()
        if allowed:
            return RateDecision(True, None, int(remaining))
        return RateDecision(False, int(retry_ms) / 1000, 0)

    def _unavailable(self) -> RateDecision:
        if self.settings.on_error == "allow":
            return RateDecision(True, None, None)
        return RateDecision(False, max(0.1, self.backoff.pause), 0)
