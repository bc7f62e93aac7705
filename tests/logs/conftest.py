"""Fixtures for the log store tests: records to log.

Async tests here run on stock asyncio only (no loop factories hook): the log stores, writers
and queries keep no sockets or transports on the loop, so a second loop would test nothing new
(see the loop rule in tests/conftest.py)."""

from __future__ import annotations

import itertools
from typing import Any, Callable

import pytest

from aigw.logrecords import new_log_id
from aigw.types import LogRecord

T0 = 1_790_000_000.0  # a fixed clock for records whose time matters


@pytest.fixture
def make_record() -> Callable[..., LogRecord]:
    """A factory of valid LogRecords: successful openai calls, one second apart from T0."""
    counter = itertools.count()

    def make(**fields: Any) -> LogRecord:
        n = next(counter)
        base: dict[str, Any] = {
            "log_id": new_log_id(),
            "created_at": T0 + n,
            "gateway": "default",
            "request_type": "universal",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "endpoint": "chat/completions",
            "status": 200,
            "success": True,
            "duration_ms": 120.0,
            "ttfb_ms": 80.0,
            "tokens_in": 10,
            "tokens_out": 20,
        }
        base.update(fields)
        return LogRecord(**base)

    return make
