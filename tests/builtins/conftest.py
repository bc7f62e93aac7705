"""Fixtures for the embedded cache and rate limiter: a clock the test moves, both event loops."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest
import uvloop


def pytest_asyncio_loop_factories(config: Any, item: Any) -> dict[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Every async test here runs on the stock asyncio loop and on uvloop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


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
