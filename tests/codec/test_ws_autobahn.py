"""Autobahn TestSuite cases (via kosoku) against WsCodec behind a bare echo server, on stock
asyncio and on uvloop. Every case must be OK: fail-fast UTF-8 (6.4.x) included."""

import asyncio

import kosoku
import pytest
import uvloop

from ws_echo_server import serve


def run_cases(loop_factory, cases, exclude=()):
    async def main():
        server, url = await serve()
        try:
            return await kosoku.run_fuzzingclient(url, cases=cases, exclude_cases=list(exclude), concurrency=4)
        finally:
            server.close()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        results = runner.run(main())
    assert results
    # Strict: NON-STRICT (e.g. a late fail-fast) counts as a failure here.
    not_ok = [(r.case_id, str(r.behavior), str(r.behavior_close)) for r in results if str(r.behavior).split(".")[-1] not in ("OK", "INFORMATIONAL")]
    assert not_ok == []
    return results


LOOPS = [pytest.param(asyncio.new_event_loop, id="asyncio"), pytest.param(uvloop.new_event_loop, id="uvloop")]


@pytest.mark.timeout(600)
@pytest.mark.parametrize("loop_factory", LOOPS)
def test_autobahn_framing_cases_pass(loop_factory):
    run_cases(loop_factory, ["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"])


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_autobahn_permessage_deflate_cases_pass():
    run_cases(uvloop.new_event_loop, ["12.*", "13.*"])
