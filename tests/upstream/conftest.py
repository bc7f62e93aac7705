"""Every async test here runs twice, on stock asyncio and on uvloop, against independent
servers: aiohttp apps and a raw asyncio server whose behaviour is scripted byte by byte."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest
import uvloop
from aiohttp import web


def pytest_asyncio_loop_factories(config, item):
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@contextlib.asynccontextmanager
async def _aiohttp_server(app: web.Application, **runner_kw):
    """Run `app` on a free loopback port; yields its base URL."""
    runner_kw.setdefault("shutdown_timeout", 0.1)  # handlers that sleep must not hold up teardown
    runner = web.AppRunner(app, **runner_kw)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def _raw_server(handler: Handler):
    """A bare TCP server running `handler` per connection; yields (base URL, accepted count)."""
    accepted = []

    async def on_conn(reader, writer):
        accepted.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_conn, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        for w in accepted:
            w.transport.abort()
        await server.wait_closed()


@pytest.fixture
def aiohttp_server():
    """`async with aiohttp_server(app, **runner_kw) as base_url`."""
    return _aiohttp_server


@pytest.fixture
def raw_server():
    """`async with raw_server(handler) as (base_url, accepted_writers)`."""
    return _raw_server
