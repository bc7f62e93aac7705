"""Shared parts of the Universal WebSocket API end-to-end tests (test_universal_ws_*.py).

Every test talks to a real gateway (aigw.testing.gateway.running_gateway) on a loopback port,
whose providers are the wire-faithful simulators (aigw.testing.simulators, run in a background
thread for the whole session), over real sockets with the `websockets` client or aigw.client.
Async tests run on stock asyncio and on uvloop, except those marked `one_loop` (heavy ones
whose loop-specific part is already covered by the core tests).
"""

from __future__ import annotations

import asyncio

import uvloop


def pytest_configure(config):
    config.addinivalue_line("markers", "one_loop: run on stock asyncio only (heavy end-to-end tests)")


def pytest_asyncio_loop_factories(config, item):
    if item.get_closest_marker("one_loop"):
        return {"asyncio": asyncio.new_event_loop}
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}
