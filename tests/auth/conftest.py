"""Token store tests use real SQLite files in tmp_path; async ones run on stock asyncio and uvloop."""

import asyncio

import uvloop


def pytest_asyncio_loop_factories(config, item):
    """Every async test in tests/auth runs once per event loop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
