"""Fixtures for the embedded cache and rate limiter: a clock the test moves.

Async tests here run on stock asyncio only (no loop factories hook): the cache and limiter are
bookkeeping behind a clock the test moves, with no sockets or timers on the loop (see the loop
rule in tests/conftest.py)."""

from __future__ import annotations

import pytest


class Clock:
    """A clock that only moves when told: `clock.now = 70.0` or `clock.advance(5)`."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """A Clock at t=0."""
    return Clock()
