"""tests/http runs its async tests on stock asyncio, but for the server's own part of a request
(test_http_drive.py: how a connection runs its requests on the loop), which runs on uvloop too
(the loop rule in tests/conftest.py)."""

from __future__ import annotations

import asyncio

import uvloop


def pytest_asyncio_loop_factories(config, item):
    if item.path.name == "test_http_drive.py":
        return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
    return {"asyncio": asyncio.new_event_loop}
