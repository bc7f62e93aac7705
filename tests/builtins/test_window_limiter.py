"""The `memory` rate limiter: fixed and sliding windows per key, retry_after, bounded state."""

from __future__ import annotations

import math
import time

import pytest

from aigw.builtins.window_limiter import SWEEP_STEP, WindowRateLimiter, wall_aligned_monotonic
from aigw.errors import ConfigError
from aigw.types import PluginContext, RateDecision


async def hits(
    limiter: WindowRateLimiter,
    n: int,
    key: str = "k",
    limit: int = 10,
    interval: float = 60,
    technique: str = "sliding",
) -> list[RateDecision]:
    return [await limiter.hit(key, limit, interval, technique) for _ in range(n)]


# ---- fixed --------------------------------------------------------------------------------


async def test_fixed_allows_exactly_limit_requests_per_window(clock):
    limiter = WindowRateLimiter(clock=clock)
    decisions = await hits(limiter, 4, limit=3, interval=10, technique="fixed")
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]


async def test_fixed_counts_again_from_zero_at_the_window_boundary(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 9
    await hits(limiter, 3, limit=3, interval=10, technique="fixed")
    clock.now = 9.999
    assert not (await limiter.hit("k", 3, 10, "fixed")).allowed
    clock.now = 10
    decisions = await hits(limiter, 4, limit=3, interval=10, technique="fixed")
    assert [d.allowed for d in decisions] == [True, True, True, False]


async def test_fixed_retry_after_is_the_time_to_the_next_window(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 14
    decision = (await hits(limiter, 4, limit=3, interval=10, technique="fixed"))[-1]
    assert decision == RateDecision(False, 6.0, 0)


async def test_allowed_requests_have_no_retry_after(clock):
    limiter = WindowRateLimiter(clock=clock)
    assert (await limiter.hit("k", 3, 10, "fixed")).retry_after is None
    assert (await limiter.hit("k", 3, 10, "sliding")).retry_after is None


# ---- sliding ------------------------------------------------------------------------------


async def test_sliding_counts_the_overlapping_share_of_the_previous_window(clock):
    # 10 per 60 s, 10 requests at t=50; at t=70 the estimate is 10 * 50/60 = 8.33, so one
    # more request fits (9.33) and the next would make 10.33.
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 50
    assert all(d.allowed for d in await hits(limiter, 10))
    clock.now = 70
    assert [d.allowed for d in await hits(limiter, 2)] == [True, False]


async def test_sliding_retry_after_waits_for_the_previous_share_to_shrink(clock):
    # After the 11th request at t=70: 10 * (120 - t)/60 + 1 + 1 <= 10 from t=72 on.
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 50
    await hits(limiter, 10)
    clock.now = 70
    refused = (await hits(limiter, 2))[-1]
    assert refused == RateDecision(False, 2.0, 0)
    clock.now = 71.99
    assert not (await limiter.hit("k", 10, 60, "sliding")).allowed
    clock.now = 72
    assert (await limiter.hit("k", 10, 60, "sliding")).allowed


async def test_sliding_retry_after_reaches_into_the_next_window_when_this_one_is_full(clock):
    # 10 requests at t=10 fill window 0; in window 1 they weigh 10 * (120 - t)/60, and
    # one more fits once that is <= 9, from t=66.
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 10
    refused = (await hits(limiter, 11))[-1]
    assert refused == RateDecision(False, 56.0, 0)
    clock.now = 65.9
    assert not (await limiter.hit("k", 10, 60, "sliding")).allowed
    clock.now = 66
    assert (await limiter.hit("k", 10, 60, "sliding")).allowed


async def test_sliding_remaining_is_what_still_fits_after_this_request(clock):
    # 6 requests in window 0; half-way through window 1 they weigh 3, so this request makes
    # 4 and 6 more fit.
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 0
    await hits(limiter, 6)
    clock.now = 90
    assert await limiter.hit("k", 10, 60, "sliding") == RateDecision(True, None, 6)


async def test_sliding_forgets_requests_older_than_two_windows(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 50
    await hits(limiter, 10)
    clock.now = 120
    assert all(d.allowed for d in await hits(limiter, 10))


async def test_refused_requests_are_not_counted(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 50
    await hits(limiter, 10)
    clock.now = 70
    await hits(limiter, 1)
    retries = [d.retry_after for d in await hits(limiter, 5)]
    assert retries == [2.0] * 5


# ---- both ---------------------------------------------------------------------------------


@pytest.mark.parametrize("technique", ["fixed", "sliding"])
async def test_keys_are_counted_independently(clock, technique):
    limiter = WindowRateLimiter(clock=clock)
    await hits(limiter, 3, key="a", limit=3, technique=technique)
    assert not (await limiter.hit("a", 3, 60, technique)).allowed
    assert (await limiter.hit("b", 3, 60, technique)).allowed


async def test_switching_technique_keeps_the_counts(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 50
    await hits(limiter, 10, technique="fixed")
    clock.now = 70
    assert [d.allowed for d in await hits(limiter, 2, technique="sliding")] == [True, False]


async def test_a_new_interval_for_a_key_starts_its_counts_afresh(clock):
    limiter = WindowRateLimiter(clock=clock)
    await hits(limiter, 3, limit=3, interval=60, technique="fixed")
    assert (await limiter.hit("k", 3, 30, "fixed")).allowed


@pytest.mark.parametrize(
    ("limit", "interval", "technique"),
    [
        (0, 60, "fixed"),
        (2.5, 60, "fixed"),
        (True, 60, "fixed"),
        (10, 0, "fixed"),
        (10, math.inf, "fixed"),
        (10, math.nan, "sliding"),
        (10, 60, "token-bucket"),
    ],
    ids=[
        "zero limit",
        "fractional limit",
        "bool limit",
        "zero interval",
        "infinite interval",
        "nan interval",
        "unknown technique",
    ],
)
async def test_bad_arguments_raise_value_error_and_count_nothing(clock, limit, interval, technique):
    limiter = WindowRateLimiter(clock=clock)
    with pytest.raises(ValueError):
        await limiter.hit("k", limit, interval, technique)
    assert len(limiter) == 0


# ---- bounded state ------------------------------------------------------------------------


async def test_keys_idle_for_two_windows_are_purged_by_later_hits(clock):
    limiter = WindowRateLimiter(clock=clock)
    for n in range(1000):
        await limiter.hit(f"user{n}", 10, 10, "sliding")
    clock.now = 20
    await hits(limiter, 1000 // SWEEP_STEP, key="active", limit=10_000, interval=10)
    assert len(limiter) == 1


async def test_the_purge_keeps_keys_whose_previous_window_still_counts(clock):
    limiter = WindowRateLimiter(clock=clock)
    clock.now = 5
    await hits(limiter, 10, key="kept", interval=10)
    clock.now = 15
    await hits(limiter, 50, key="other", limit=100, interval=10)
    # Still counted: 10 * 5/10 + 1 leaves room for 4 (a forgotten key would have 9).
    assert await limiter.hit("kept", 10, 10, "sliding") == RateDecision(True, None, 4)


async def test_max_keys_bounds_the_keys_tracked(clock):
    limiter = WindowRateLimiter(max_keys=3, clock=clock)
    for n in range(5):
        await limiter.hit(f"user{n}", 10, 60, "fixed")
    assert len(limiter) == 3


# ---- clock and config ---------------------------------------------------------------------


def test_the_default_clock_reads_wall_clock_time():
    assert abs(wall_aligned_monotonic()() - time.time()) < 1.0


def context(**config) -> PluginContext:
    return PluginContext(name="memory", config=config, settings=None, data_dir=None)  # type: ignore[arg-type]


def test_config_max_keys_defaults_to_100000_and_can_be_set():
    assert WindowRateLimiter.from_context(context()).max_keys == 100_000
    assert WindowRateLimiter.from_context(context(max_keys=50)).max_keys == 50


@pytest.mark.parametrize(
    "config", [{"max_key": 5}, {"max_keys": 0}, {"max_keys": "many"}], ids=["unknown key", "zero", "string"]
)
def test_bad_config_stops_with_a_config_error(config):
    with pytest.raises(ConfigError, match="memory"):
        WindowRateLimiter.from_context(context(**config))
