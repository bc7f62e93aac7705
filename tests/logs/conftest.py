"""Fixtures for the log store tests: records to log, stores made at an older schema version.

Async tests here run on stock asyncio only (no loop factories hook): the log stores, writers
and queries keep no sockets or transports on the loop, so a second loop would test nothing new
(see the loop rule in tests/conftest.py)."""

from __future__ import annotations

import itertools
import sqlite3
from pathlib import Path
from typing import Any, Callable

import pytest

from aigw.builtins.sqlite_log_schema import MIGRATIONS
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


@pytest.fixture
def store_at_version() -> Callable[[Path, int], sqlite3.Connection]:
    """A factory: `store_at_version(path, n)` makes a log store at schema version n (the
    first n migrations, as an older aigw left it) and returns a connection to it, to fill with
    that version's rows (`with` it to commit)."""

    def make(path: Path, version: int) -> sqlite3.Connection:
        conn = sqlite3.connect(path)
        for script in MIGRATIONS[:version]:
            for statement in (s for s in script.split(";") if s.strip()):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
        return conn

    return make
