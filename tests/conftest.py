"""Suite-wide checks.

`no_unhandled_loop_errors` (autouse): a test fails when an event loop reported an error it
could not hand to anyone: "Task exception was never retrieved", "Future exception was never
retrieved", an exception in a callback. On stock asyncio and on uvloop those go to the loop's
exception handler, whose default logs them on the "asyncio" logger at ERROR; the fixture
listens there (so it works for any loop, also loops created inside the test) and collects
garbage at teardown so that abandoned tasks report within their own test. The objects that exist
once the tests are collected (every imported module: the SDKs, botocore, matplotlib...) are
moved to the permanent generation (gc.freeze), so that collection scans only what tests made:
~0.2 ms instead of ~200 ms per test, about 9 minutes of CPU over the suite.

Which event loop (the rule for each directory's `pytest_asyncio_loop_factories` hook): async
tests run on both stock asyncio and uvloop where the code under test owns sockets, transports,
flow control or close paths on the loop (server, protocol, upstream, realtime, auth's closing
of live connections, the Universal API, conformance framing). They run on stock asyncio only
where the code under test keeps nothing on the loop or is test tooling (log stores, the cache
and limiter, the simulators), and where a heavy end-to-end test's loop-specific part is covered
by a lighter test on both loops (the `one_loop` marker in tests/api; Autobahn's deflate
sections, tests/conformance/test_autobahn.py).

The suite runs in two pytest-xdist workers (pyproject's addopts: `-n 2 --dist loadfile`, so a
file's tests share one process): every server a test starts listens on a free port and keeps its
files under tmp_path. `-n 0` runs everything in one process (e.g. for `--pdb`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import pytest

# The plugin helpers (plugin_manager, the aigw_plugins marker) for every test directory.
pytest_plugins = ["aigw.testing.plugins"]


class _LoopErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError) and "StreamReaderProtocol.connection_made" in record.getMessage():
            # CPython 3.11 bug (fixed in 3.12): the client_connected_cb task's done-callback calls
            # task.exception() on a *cancelled* handler task, i.e. a test server torn down while
            # a handler still ran. Not an exception anybody failed to retrieve.
            return
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f": {record.exc_info[1]!r}"
        self.messages.append(text)


@pytest.fixture(autouse=True)
def no_unhandled_loop_errors(request):
    """Fail the test if an event loop reported an unhandled or unretrieved exception."""
    if request.node.get_closest_marker("allow_loop_errors"):
        yield
        return
    handler = _LoopErrors()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:
        yield
        gc.collect()  # abandoned tasks and futures report when they are collected
    finally:
        logger.removeHandler(handler)
    if handler.messages:
        pytest.fail("the event loop reported unhandled errors:\n" + "\n".join(handler.messages), pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_loop_errors: the test provokes loop-level errors on purpose")
    config.autobahn_rows = {}  # "loop section" -> summary row (tests/conformance/conftest.py)


def pytest_collection_finish(session):
    """Freeze what collection imported: the per-test gc.collect() then skips it (see above)."""
    gc.collect()
    gc.freeze()


# ---- the Autobahn summary table ------------------------------------------------------------
# Here rather than in tests/conformance: pytest-xdist's controller prints the terminal summary and
# loads only this conftest. The rows come from tests/conformance/conftest.py.


@pytest.hookimpl(optionalhook=True)  # an xdist hook: a worker finished and handed over its output
def pytest_testnodedown(node, error):
    node.config.autobahn_rows.update(getattr(node, "workeroutput", {}).get("autobahn_rows", {}))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the Autobahn cases per loop and section with OK / NON-STRICT / INFORMATIONAL / FAILED."""
    rows = sorted(config.autobahn_rows.values(), key=lambda row: (row["loop"], int(row["section"])))
    if not rows:
        return
    tr = terminalreporter
    tr.section("Autobahn TestSuite (kosoku 0.1.0) against the echo server")
    header = f"{'loop':8} {'section':>7} {'cases':>6} {'OK':>5} {'NON-STRICT':>11} {'INFORMATIONAL':>14} {'FAILED':>7}"
    tr.write_line(header)
    tr.write_line("-" * len(header))
    for row in rows:
        counts = row["counts"]
        tr.write_line(
            f"{row['loop']:8} {row['section'] + '.*':>7} {row['cases']:>6} {counts['OK']:>5}"
            f" {counts['NON-STRICT']:>11} {counts['INFORMATIONAL']:>14} {counts['FAILED']:>7}"
        )
    for row in rows:
        for line in row["failures"]:
            tr.write_line(f"FAILED [{row['loop']}] {line}")


@pytest.fixture
def clear_of_window_edge():
    """`await clear_of_window_edge(interval)`: returns once at least `margin` seconds are left
    before the next wall-clock boundary of `interval`-second windows. Rate-limit windows restart
    on those boundaries (a 60 s window on the minute), so a test that counts one window's
    requests exactly must not straddle one."""

    async def wait(interval: float, margin: float = 10.0) -> None:
        left = interval - time.time() % interval
        if left < margin:
            await asyncio.sleep(left + 0.1)

    return wait


# ---- the gateway-on-simulators fixtures most end-to-end tests use ----------------------------


@pytest.fixture
def sims(aigw_simulators):
    """The session's simulators, reset around the test, with short stream pacing."""
    for sim in aigw_simulators.values():
        sim.chunks, sim.chunk_delay = 4, 0.001
    return aigw_simulators


@pytest.fixture
def gateway(aigw_gateway_factory, sims):
    """`async with gateway(**config) as gw`: a gateway on the (paced) simulators."""
    return aigw_gateway_factory


# ---- a provider that always answers the same, for the native paths' equivalence tests -------


class FixedUpstream:
    """A provider for a gateway's config (`running_gateway({"openai": up})`): a real aiohttp
    server that answers every request with `body` and `headers` (a test may change both) and
    remembers what it was sent in `seen` (method, path and query, headers but the hop's own,
    body)."""

    key = "sk-upstream"

    def __init__(self, url: str, body: bytes) -> None:
        self.url = url
        self.body = body
        self.headers: list[tuple[str, str]] = [("content-type", "application/json")]
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []

    def base_url(self) -> str:
        return self.url


#: What `fixed_upstream` answers until a test says otherwise: an OpenAI chat completion.
FIXED_ANSWER = b'{"id":"c1","choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":5}}'


@pytest.fixture
async def fixed_upstream():
    """A `FixedUpstream` serving on 127.0.0.1 (base URL `/v1`) for the test."""
    from aiohttp import web

    app = web.Application()
    holder: dict[str, FixedUpstream] = {}

    async def answer(request: web.Request) -> web.StreamResponse:
        up = holder["up"]
        body = await request.read()
        forwarded = {k.lower(): v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        up.seen.append((request.method, request.path_qs, forwarded, body))
        response = web.Response(body=up.body)
        response.headers.popall("Content-Type", None)
        for name, value in up.headers:
            response.headers.add(name, value)
        return response

    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    up = holder["up"] = FixedUpstream(f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1", FIXED_ANSWER)
    try:
        yield up
    finally:
        await runner.cleanup()
