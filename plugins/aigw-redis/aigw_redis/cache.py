"""The `redis` cache: responses stored in Redis with their TTL, shared by every gateway process.

An entry is one Redis string ``<key_prefix>cache:<cache key>`` holding a small binary record
(a version byte, the status, the content type and headers as JSON, then the body), set with
``SET ... PX <ttl in ms>`` so Redis expires it. A response larger than `max_entry_bytes` is not
stored. Streamed responses are not cached by the gateway's pipeline, so there is nothing to
replay here as a stream.

Redis down or slow: `get` answers a miss and `set` does nothing, within `timeout_ms`, and the
back-off (connection.py) keeps later requests from waiting on it at all until it is back.
"""

from __future__ import annotations

import struct

import orjson

from aigw.types import CachedResponse
from aigw_redis.connection import REDIS_ERRORS, Backoff, check_at_start, make_client
from aigw_redis.settings import RedisSettings

_VERSION = 1
_HEAD = struct.Struct(">BHI")  # version, status, length of the JSON [content_type, headers]


def encode(value: CachedResponse) -> bytes:
    """The stored form of `value`."""
    meta = orjson.dumps([value.content_type, [list(h) for h in value.headers]])
    return _HEAD.pack(_VERSION, value.status, len(meta)) + meta + bytes(value.body)


def decode(data: bytes) -> CachedResponse | None:
    """`value` back from `encode`, or None for a record this version does not read."""
    if len(data) < _HEAD.size:
        return None
    version, status, meta_len = _HEAD.unpack_from(data)
    if version != _VERSION:
        return None
    content_type, headers = orjson.loads(data[_HEAD.size : _HEAD.size + meta_len])
    return CachedResponse(status, content_type, data[_HEAD.size + meta_len :], [(k, v) for k, v in headers])


class RedisCache:
    """An aigw Cache in Redis (see the module docstring)."""

    name = "redis"

    def __init__(self, settings: RedisSettings) -> None:
        self.settings = settings
        self.backoff = Backoff("redis cache", settings.backoff_max)
        self._client = make_client(settings)
        self._prefix = settings.key_prefix + "cache:"

    async def start(self) -> None:
        """Check Redis (see `connection.check_at_start`)."""
        await check_at_start(self._client, self.backoff)

    async def aclose(self) -> None:
        """Close the connection."""
        await self._client.aclose()

    async def get(self, key: str) -> CachedResponse | None:
        """The stored response, or None on a miss, after expiry, or when Redis is unavailable."""
        if not self.backoff.allows():
            return None
        try:
            data = await self._client.execute("GET", self._prefix + key)
        except REDIS_ERRORS as exc:
            self.backoff.failed(exc)
            return None
        self.backoff.succeeded()
        return None if data is None else decode(data)

    async def set(self, key: str, value: CachedResponse, ttl: float) -> None:
        """Store `value` for `ttl` seconds (at least 1 ms), unless it is too large or Redis is
        unavailable."""
        blob = encode(value)
        if len(blob) > self.settings.max_entry_bytes or ttl <= 0 or not self.backoff.allows():
            return
        try:
            await self._client.execute("SET", self._prefix + key, blob, "PX", max(1, round(ttl * 1000)))
        except REDIS_ERRORS as exc:
            self.backoff.failed(exc)
            return
        self.backoff.succeeded()
