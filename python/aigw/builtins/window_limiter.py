"""The built-in `memory` rate limiter: fixed and sliding window counters per key, in process.

Both of Cloudflare's techniques count requests in windows of `interval` seconds aligned to the
clock: window ``n`` covers ``[n * interval, (n + 1) * interval)``. Per key the limiter keeps
the counts of the current window and of the one before it.

**fixed**: a request is allowed while the current window has counted fewer than `limit`
requests; the count starts again from zero at each window boundary.

**sliding** (the sliding-window counter approximation): at time ``t`` in window ``n``, with
``elapsed = t - n * interval``, the requests of the last `interval` seconds are estimated as::

    weighted = previous * (interval - elapsed) / interval + current

where ``previous`` is window ``n - 1``'s count and ``current`` window ``n``'s so far: the
previous window's requests are assumed evenly spread, and the part of it still inside the
sliding window is counted. A request is allowed when counting it keeps the estimate within the
limit, ``weighted + 1 <= limit``. Example: limit 10 per 60 s, 10 requests at t=50; at t=70
``weighted = 10 * 50/60 = 8.33``, so one more request is allowed (9.33) and the next is not
(10.33 > 10) until t=72, when ``10 * 48/60 + 1 + 1 = 10``.

Either way a refused request is not counted, so a client retrying too early does not push its
own wait further out. `RateDecision.retry_after` is the number of seconds until a request
would be allowed if none other arrived (None when allowed); `remaining` how many more requests
would be allowed now, this one counted (0 when refused).

Windows are aligned to wall-clock time (a one-minute window restarts on the minute), but time is
measured with the monotonic clock, so a wall-clock jump does not move them.

State is bounded: a key's counters are useless once two windows have passed since its last
request, and every `hit` examines the next `SWEEP_STEP` keys of a round-robin ring to drop
such stale keys (each key is examined at least once per ``keys / SWEEP_STEP`` hits). Beyond
`max_keys` keys, the least recently examined key is forgotten, which lets its next request
start from zero: memory wins over exactness for a key flood.

A key keeps one interval: a hit with another interval than its last one starts its counts
afresh (a changed configuration). Switching technique keeps the counts.

Config (`PluginContext.config`, every key optional):
    max_keys  most keys tracked (100000)

Not thread-safe: use it from one event loop (`hit` never awaits, so each call is atomic there).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from aigw import hookimpl
from aigw.builtins.plugin_config import SectionReader
from aigw.types import PluginContext, RateDecision

TECHNIQUES = ("fixed", "sliding")
DEFAULT_MAX_KEYS = 100_000
SWEEP_STEP = 2  # ring keys examined for staleness per hit
EPSILON = 1e-9  # float slack when comparing estimates, so that retry_after is honest

CONFIG_KEYS = {"max_keys"}


def wall_aligned_monotonic() -> Callable[[], float]:
    """A clock reading like `time.time()` at the moment it is made, then advancing with
    `time.monotonic()` (so windows align to the wall clock but never jump with it)."""
    offset = time.time() - time.monotonic()
    return lambda: time.monotonic() + offset


@dataclass(slots=True)
class _Window:
    interval: float
    index: int  # the window `current` counts in
    current: int
    previous: int  # count of window index - 1


class WindowRateLimiter:
    """A RateLimiter (interfaces.RateLimiter) in process memory; see the module docstring."""

    name = "memory"

    def __init__(self, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Callable[[], float] | None = None) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.max_keys = max_keys
        self._clock = clock if clock is not None else wall_aligned_monotonic()
        self._windows: OrderedDict[str, _Window] = OrderedDict()  # next to examine first

    @classmethod
    def from_context(cls, ctx: PluginContext) -> WindowRateLimiter:
        """The factory the plugin registers: reads ctx.config (keys in the module docstring).

        Raises:
            ConfigError: an unknown key or a max_keys that is not an integer >= 1.
        """
        section = SectionReader(ctx.name, ctx.config, CONFIG_KEYS)
        return cls(max_keys=section.number("max_keys", DEFAULT_MAX_KEYS, minimum=1, integer=True))

    def __len__(self) -> int:
        """Keys tracked, stale ones not yet dropped included."""
        return len(self._windows)

    async def hit(self, key: str, limit: int, interval: float, technique: str) -> RateDecision:
        """Count one request for `key` against `limit` requests per `interval` seconds with
        `technique` ("fixed" or "sliding"), unless it is refused; see the module docstring.

        Raises:
            ValueError: limit is not an integer >= 1, interval not a finite number > 0, or the
                technique is unknown. Nothing is counted then.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"rate limit must be an integer >= 1, got {limit!r}")
        if not (isinstance(interval, (int, float)) and 0 < interval < math.inf):
            raise ValueError(f"rate limit interval must be a finite number of seconds > 0, got {interval!r}")
        if technique not in TECHNIQUES:
            raise ValueError(f"rate limit technique must be 'fixed' or 'sliding', got {technique!r}")
        now = self._clock()
        self._sweep(now)
        index = math.floor(now / interval)
        window = self._windows.get(key)
        if window is None or window.interval != interval:
            window = self._windows[key] = _Window(interval, index, 0, 0)
            while len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
        elif index != window.index:
            window.previous = window.current if index == window.index + 1 else 0
            window.current = 0
            window.index = index
        # index < window.index cannot happen with a monotonic clock; it is treated as a new
        # window too, which errs towards allowing.
        if technique == "fixed":
            return _fixed(window, limit, now)
        return _sliding(window, limit, now)

    def _sweep(self, now: float) -> None:
        """Examine the next SWEEP_STEP ring keys: drop the stale, rotate the others."""
        for _ in range(min(SWEEP_STEP, len(self._windows))):
            key, window = next(iter(self._windows.items()))
            if now >= (window.index + 2) * window.interval:
                del self._windows[key]
            else:
                self._windows.move_to_end(key)


def _fixed(window: _Window, limit: int, now: float) -> RateDecision:
    if window.current < limit:
        window.current += 1
        return RateDecision(True, None, limit - window.current)
    return RateDecision(False, (window.index + 1) * window.interval - now, 0)


def _sliding(window: _Window, limit: int, now: float) -> RateDecision:
    interval, previous, current = window.interval, window.previous, window.current
    start = window.index * interval
    share = (start + interval - now) / interval  # of the previous window, still inside
    weighted = previous * share + current
    if weighted + 1 <= limit + EPSILON:
        window.current += 1
        return RateDecision(True, None, max(0, math.floor(limit - weighted - 1 + EPSILON)))
    if current + 1 <= limit:
        # The previous window's share must shrink to limit - 1 - current (>= 0): solve
        # previous * (start + interval - t) / interval = room for t, within this window.
        room = limit - 1 - current
        at = start + interval * (1 - room / previous)
    else:
        # This window alone is full: wait into the next, where it becomes `previous` and must
        # shrink to limit - 1 (current > limit - 1 >= 0 here, so the division is safe).
        at = start + interval + interval * (1 - (limit - 1) / current)
    return RateDecision(False, max(0.0, at - now), 0)


@hookimpl
def register_rate_limiters(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `memory` rate limiter (the default; counters in process memory)."""
    register("memory", WindowRateLimiter.from_context)
