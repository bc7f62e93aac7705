"""The built-in `memory` cache: an in-process LRU of responses with a TTL per entry.

Bounded twice: at most `max_entries` entries and at most `max_bytes` accounted bytes; storing
past either bound evicts least recently used entries until both hold. An entry larger than
`max_entry_bytes` (or than `max_bytes`) is refused: storing it would flush the whole cache for
one answer. Every operation is O(1) (an OrderedDict in recency order).

Expiry is lazy: `get` drops an expired entry and answers a miss. So that entries nobody reads
again do not keep their bytes until LRU pressure reaches them, every `set` also examines the
next `SWEEP_STEP` entries of a round-robin ring (a second OrderedDict in examination order),
dropping the expired ones: each entry is examined at least once per ``len(cache) / SWEEP_STEP``
writes, at O(1) cost per write.

An entry's accounted size is approximate: the body, content type, header names and values and
the key, counted in characters/bytes, plus `ENTRY_OVERHEAD` for the Python objects around them.

Config (`PluginContext.config`, every key optional):
    max_entries      most entries kept (10000)
    max_bytes        most accounted bytes kept (256 MiB)
    max_entry_bytes  a larger entry is not stored (25 MiB, like Cloudflare's 25 MB cacheable
                     request size)

Values are stored by reference and handed back as stored: treat a CachedResponse as immutable
once cached. Not thread-safe: use it from one event loop (its methods never await, so each
call is atomic there).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from aigw import hookimpl
from aigw.builtins.plugin_config import SectionReader
from aigw.types import CachedResponse, PluginContext

MIB = 1024 * 1024
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_BYTES = 256 * MIB
DEFAULT_MAX_ENTRY_BYTES = 25 * MIB
ENTRY_OVERHEAD = 256  # bytes accounted per entry beyond its data (dict slots, objects)
SWEEP_STEP = 2  # ring entries examined for expiry per write

CONFIG_KEYS = {"max_entries", "max_bytes", "max_entry_bytes"}


def entry_size(key: str, value: CachedResponse) -> int:
    """The bytes an entry is accounted for (see the module docstring)."""
    headers = sum(len(name) + len(text) for name, text in value.headers)
    return ENTRY_OVERHEAD + len(key) + len(value.body) + len(value.content_type) + headers


@dataclass(slots=True)
class _Entry:
    value: CachedResponse
    size: int
    expires_at: float


@dataclass(slots=True)
class CacheStats:
    """Counters since the cache was created."""

    hits: int = 0
    misses: int = 0  # including reads of expired entries
    stores: int = 0
    refused: int = 0  # set() calls not stored: oversize entry or ttl <= 0
    evicted: int = 0  # live entries dropped to respect max_entries/max_bytes
    expired: int = 0  # entries dropped because their TTL ran out


class MemoryCache:
    """A Cache (interfaces.Cache) in process memory; see the module docstring."""

    name = "memory"

    def __init__(
        self,
        *,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or max_bytes < 1 or max_entry_bytes < 1:
            raise ValueError("max_entries, max_bytes and max_entry_bytes must be >= 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.max_entry_bytes = min(max_entry_bytes, max_bytes)
        self._clock = clock
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._ring: OrderedDict[str, None] = OrderedDict()  # next to examine for expiry first
        self._bytes = 0
        self.stats = CacheStats()

    @classmethod
    def from_context(cls, ctx: PluginContext) -> MemoryCache:
        """The factory the plugin registers: reads ctx.config (keys in the module docstring).

        Raises:
            ConfigError: an unknown key or a value that is not an integer >= 1.
        """
        section = SectionReader(ctx.name, ctx.config, CONFIG_KEYS)
        return cls(
            max_entries=section.number("max_entries", DEFAULT_MAX_ENTRIES, minimum=1, integer=True),
            max_bytes=section.number("max_bytes", DEFAULT_MAX_BYTES, minimum=1, integer=True),
            max_entry_bytes=section.number("max_entry_bytes", DEFAULT_MAX_ENTRY_BYTES, minimum=1, integer=True),
        )

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """Accounted bytes of the entries held."""
        return self._bytes

    async def get(self, key: str) -> CachedResponse | None:
        """The response stored under `key` and not expired, else None. A hit makes the entry
        the most recently used; an expired entry is dropped."""
        entry = self._entries.get(key)
        if entry is None:
            self.stats.misses += 1
            return None
        if self._clock() >= entry.expires_at:
            self._drop(key, entry)
            self.stats.expired += 1
            self.stats.misses += 1
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        return entry.value

    async def set(self, key: str, value: CachedResponse, ttl: float) -> None:
        """Store `value` under `key` for `ttl` seconds (math.inf: until evicted), replacing any
        entry there. An entry over the size cap, or a ttl that is not > 0, is not stored, and
        the key then has no entry at all (an older answer is not left behind)."""
        self._sweep()
        old = self._entries.get(key)
        if old is not None:
            self._drop(key, old)
        size = entry_size(key, value)
        if not ttl > 0 or size > self.max_entry_bytes:  # `not >` also refuses NaN
            self.stats.refused += 1
            return
        expires_at = self._clock() + ttl if math.isfinite(ttl) else math.inf
        self._entries[key] = _Entry(value, size, expires_at)
        self._ring[key] = None
        self._bytes += size
        self.stats.stores += 1
        while len(self._entries) > self.max_entries or self._bytes > self.max_bytes:
            lru_key, lru = next(iter(self._entries.items()))
            self._drop(lru_key, lru)
            self.stats.evicted += 1

    async def delete(self, key: str) -> bool:
        """Forget `key`; whether a live entry was there."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._drop(key, entry)
        return self._clock() < entry.expires_at

    def clear(self) -> None:
        """Forget every entry (the counters in `stats` stay)."""
        self._entries.clear()
        self._ring.clear()
        self._bytes = 0

    def _drop(self, key: str, entry: _Entry) -> None:
        del self._entries[key]
        del self._ring[key]
        self._bytes -= entry.size

    def _sweep(self) -> None:
        """Examine the next SWEEP_STEP ring entries: drop the expired, rotate the others."""
        if not self._ring:
            return
        now = self._clock()
        for _ in range(min(SWEEP_STEP, len(self._ring))):
            key = next(iter(self._ring))
            entry = self._entries[key]
            if now >= entry.expires_at:
                self._drop(key, entry)
                self.stats.expired += 1
            else:
                self._ring.move_to_end(key)


@hookimpl
def register_caches(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `memory` cache (the default response cache)."""
    register("memory", MemoryCache.from_context)
