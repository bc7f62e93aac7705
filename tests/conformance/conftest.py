"""Conformance fixtures: the echo app served in-process on a free port, over ws:// or wss://,
on both uvloop and stock asyncio (Autobahn's deflate sections on one each); a certificate
authority for wss://; and the Autobahn summary rows, which tests/conftest.py prints at the end of
the run (whatever the capture mode, and also when pytest-xdist ran the sections in its workers)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import trustme
import uvloop

from aigw.server import Server, serve
from aigw.server.echo import EchoApp, echo_settings


def pytest_asyncio_loop_factories(config, item):
    """Every async conformance test runs once on stock asyncio and once on uvloop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_ssl(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_ssl(ca) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(context)
    return context


@dataclass
class RunningServer:
    """An echo server listening on 127.0.0.1:`port`; `url` is its ws:// or wss:// address."""

    server: Server
    port: int
    tls: bool

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}/"


@contextlib.asynccontextmanager
async def echo_server(*, ssl_context: ssl.SSLContext | None = None, **settings) -> AsyncIterator[RunningServer]:
    """Serve the echo app on a free port for the duration of the block. `settings` override
    the echo defaults (permessage-deflate on, no idle close)."""
    server = await serve(EchoApp(), "127.0.0.1", 0, ssl=ssl_context, settings=echo_settings(**settings))
    try:
        yield RunningServer(server, server.port, ssl_context is not None)
    finally:
        await asyncio.wait_for(server.close(grace=1.0), 10)


# ---- the Autobahn summary table --------------------------------------------------------------
#
# The table prints from tests/conftest.py: under pytest-xdist the terminal summary runs in the
# controller, which never loads this conftest. The sections hand their rows over as plain data:
# from a worker in its `workeroutput`, in one process (-n 0) on `config.autobahn_rows`.

AUTOBAHN_RESULTS: dict[tuple[str, str], list] = {}  # (loop, section) -> kosoku CaseResults


def autobahn_rows(results: dict[tuple[str, str], list]) -> dict[str, dict]:
    """The summary rows for `results`: counts per outcome and a line per failed case."""
    rows = {}
    for (loop, section), cases in results.items():
        counts = {"OK": 0, "NON-STRICT": 0, "INFORMATIONAL": 0, "FAILED": 0}
        failures = []
        for r in cases:
            if not r.passed:
                counts["FAILED"] += 1
                failures.append(describe_case(r))
            elif "NON-STRICT" in (r.behavior.value, r.behavior_close.value):
                counts["NON-STRICT"] += 1
            elif "INFORMATIONAL" in (r.behavior.value, r.behavior_close.value):
                counts["INFORMATIONAL"] += 1
            else:
                counts["OK"] += 1
        rows[f"{loop} {section}"] = {
            "loop": loop, "section": section, "cases": len(cases), "counts": counts, "failures": failures,
        }
    return rows


@pytest.hookimpl(tryfirst=True)  # before xdist's worker sends its workeroutput
def pytest_sessionfinish(session):
    if not AUTOBAHN_RESULTS:
        return
    rows = autobahn_rows(AUTOBAHN_RESULTS)
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["autobahn_rows"] = rows
    else:
        session.config.autobahn_rows.update(rows)


def describe_case(r) -> str:
    """One line saying what a case expected and what the server did."""
    return (
        f"{r.case_id}: behavior={r.behavior.value} close={r.behavior_close.value}"
        f" remote_close_code={r.remote_close_code} — {r.result} / {r.result_close}"
    )
