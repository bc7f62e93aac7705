"""Conformance fixtures: the echo app served in-process on a free port, over ws:// or wss://,
on both uvloop and stock asyncio (Autobahn's deflate sections on one each); a certificate
authority for wss://; and the Autobahn summary printed at the end of the run (whatever the
capture mode, and also when pytest-xdist ran the sections in its workers)."""

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
# Under pytest-xdist the sections run in worker processes while the terminal summary prints in
# the controller: each worker hands its rows over in `workeroutput` (plain, serializable data)
# and the controller merges them as the workers finish. Without xdist the rows stay in-process.

AUTOBAHN_RESULTS: dict[tuple[str, str], list] = {}  # (loop, section) -> kosoku CaseResults
_MERGED_ROWS: dict[str, dict] = {}  # "loop section" -> row, from the workers (controller only)


def _rows(results: dict[tuple[str, str], list]) -> dict[str, dict]:
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
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and AUTOBAHN_RESULTS:
        workeroutput["autobahn_rows"] = _rows(AUTOBAHN_RESULTS)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: the controller hears from each worker
def pytest_testnodedown(node, error):
    _MERGED_ROWS.update(getattr(node, "workeroutput", {}).get("autobahn_rows", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print cases per section with OK / NON-STRICT / INFORMATIONAL / FAILED counts."""
    rows = {**_MERGED_ROWS, **_rows(AUTOBAHN_RESULTS)}
    if not rows:
        return
    tr = terminalreporter
    tr.section("Autobahn TestSuite (kosoku 0.1.0) against the echo server")
    header = f"{'loop':8} {'section':>7} {'cases':>6} {'OK':>5} {'NON-STRICT':>11} {'INFORMATIONAL':>14} {'FAILED':>7}"
    tr.write_line(header)
    tr.write_line("-" * len(header))
    ordered = sorted(rows.values(), key=lambda row: (row["loop"], int(row["section"])))
    for row in ordered:
        counts = row["counts"]
        tr.write_line(
            f"{row['loop']:8} {row['section'] + '.*':>7} {row['cases']:>6} {counts['OK']:>5} {counts['NON-STRICT']:>11}"
            f" {counts['INFORMATIONAL']:>14} {counts['FAILED']:>7}"
        )
    for row in ordered:
        for line in row["failures"]:
            tr.write_line(f"FAILED [{row['loop']}] {line}")


def describe_case(r) -> str:
    """One line saying what a case expected and what the server did."""
    return (
        f"{r.case_id}: behavior={r.behavior.value} close={r.behavior_close.value}"
        f" remote_close_code={r.remote_close_code} — {r.result} / {r.result_close}"
    )
