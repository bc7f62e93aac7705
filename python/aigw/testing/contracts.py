"""Contract test suites for Cache and RateLimiter implementations: what every backend must do,
whatever it stores in. Subclass one in a test module and provide a `cache` / `limiter` fixture
(async, started, cleaned up), and pytest runs every contract test against it::

    from aigw.testing.contracts import CacheContract

    class TestMyCache(CacheContract):
        @pytest.fixture
        async def cache(self):
            cache = MyCache(...)
            await cache.start()
            yield cache
            await cache.aclose()

Keys are random per test, so a backend shared between tests (one Redis) is fine. Needs
pytest-asyncio in auto mode (as aigw's own suite).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from aigw.types import CachedResponse

__all__ = ["CacheContract", "RateLimiterContract"]


def _key(label: str) -> str:
    return f"contract-{label}-{uuid.uuid4().hex}"


class CacheContract:
    """The `aigw.Cache` contract."""

    async def test_a_stored_response_comes_back_whole(self, cache) -> None:  # type: ignore[no-untyped-def]
        key = _key("whole")
        value = CachedResponse(201, "application/json", b'{"a":"\xc3\xa9"}\x00\xff', [("x-a", "1"), ("x-b", "two")])
        await cache.set(key, value, 60)
        got = await cache.get(key)
        assert got is not None
        assert (got.status, got.content_type, bytes(got.body), [tuple(h) for h in got.headers]) == (
            201, "application/json", b'{"a":"\xc3\xa9"}\x00\xff', [("x-a", "1"), ("x-b", "two")]
        )  # fmt: skip

    async def test_an_unknown_key_is_a_miss(self, cache) -> None:  # type: ignore[no-untyped-def]
        assert await cache.get(_key("unknown")) is None

    async def test_an_entry_is_a_miss_once_its_ttl_has_passed(self, cache) -> None:  # type: ignore[no-untyped-def]
        key = _key("ttl")
        await cache.set(key, CachedResponse(200, "text/plain", b"soon gone"), 0.2)
        assert await cache.get(key) is not None
        await asyncio.sleep(0.35)
        assert await cache.get(key) is None

    async def test_a_later_set_replaces_the_earlier_value(self, cache) -> None:  # type: ignore[no-untyped-def]
        key = _key("replace")
        await cache.set(key, CachedResponse(200, "text/plain", b"first"), 60)
        await cache.set(key, CachedResponse(200, "text/plain", b"second"), 60)
        got = await cache.get(key)
        assert got is not None and bytes(got.body) == b"second"


class RateLimiterContract:
    """The `aigw.RateLimiter` contract: exact counts, also under concurrency."""

    async def test_a_fixed_window_allows_exactly_the_limit_then_refuses_with_retry_after(self, limiter) -> None:  # type: ignore[no-untyped-def]
        key = _key("fixed")
        decisions = [await limiter.hit(key, 5, 60, "fixed") for _ in range(7)]
        assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
        assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
        assert all(0 < d.retry_after <= 60 for d in decisions[5:])

    async def test_a_sliding_window_allows_exactly_the_limit_then_refuses(self, limiter) -> None:  # type: ignore[no-untyped-def]
        key = _key("sliding")
        decisions = [await limiter.hit(key, 4, 60, "sliding") for _ in range(6)]
        assert [d.allowed for d in decisions] == [True] * 4 + [False] * 2
        assert all(d.retry_after is not None and d.retry_after > 0 for d in decisions[4:])

    async def test_concurrent_hits_never_let_more_than_the_limit_through(self, limiter) -> None:  # type: ignore[no-untyped-def]
        for technique in ("fixed", "sliding"):
            key = _key("race-" + technique)
            decisions = await asyncio.gather(*(limiter.hit(key, 25, 60, technique) for _ in range(100)))
            assert sum(d.allowed for d in decisions) == 25, technique

    async def test_keys_are_counted_apart(self, limiter) -> None:  # type: ignore[no-untyped-def]
        a, b = _key("a"), _key("b")
        assert (await limiter.hit(a, 1, 60, "fixed")).allowed
        assert not (await limiter.hit(a, 1, 60, "fixed")).allowed
        assert (await limiter.hit(b, 1, 60, "fixed")).allowed

    async def test_the_count_starts_again_in_the_next_fixed_window(self, limiter) -> None:  # type: ignore[no-untyped-def]
        # Windows are aligned to the clock: two hits may straddle a boundary (both allowed).
        # Then the pair is tried again on a fresh key; three straddles in a row cannot happen.
        for attempt in range(3):
            key = _key(f"next{attempt}")
            first = await limiter.hit(key, 1, 0.3, "fixed")
            refused = await limiter.hit(key, 1, 0.3, "fixed")
            if first.allowed and not refused.allowed:
                break
        else:
            pytest.fail(f"first {first}, second {refused}")
        await asyncio.sleep(refused.retry_after + 0.02)
        assert (await limiter.hit(key, 1, 0.3, "fixed")).allowed

    async def test_bad_arguments_raise_value_error_and_count_nothing(self, limiter) -> None:  # type: ignore[no-untyped-def]
        key = _key("bad")
        for args in ((0, 60, "fixed"), (1, 0, "fixed"), (1, 60, "leaky")):
            with pytest.raises(ValueError):
                await limiter.hit(key, *args)
        assert (await limiter.hit(key, 1, 60, "fixed")).allowed
