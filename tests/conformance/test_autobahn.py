"""The Autobahn TestSuite's fuzzing client (kosoku 0.1.0, which runs Autobahn's own case files)
against the echo app, section by section, on uvloop and stock asyncio.

Every case must pass: behavior OK, or NON-STRICT / INFORMATIONAL where Autobahn allows it, with
a clean close. The per-section counts are printed in the terminal summary (conftest.py).
Sections 12 and 13 are permessage-deflate, so the server offers it here.
"""

from __future__ import annotations

import asyncio

import kosoku
import pytest

from .conftest import AUTOBAHN_RESULTS, describe_case, echo_server

SECTIONS = ["1", "2", "3", "4", "5", "6", "7", "9", "10", "12", "13"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def loop_name() -> str:
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


@pytest.mark.parametrize("section", SECTIONS)
async def test_autobahn_section_passes(section):
    async with echo_server(permessage_deflate=True) as server:
        url = f"ws://127.0.0.1:{server.port}"
        # 9.* measures large-message throughput: one case at a time keeps the 2-core machine
        # from timing cases out; the rest run two at a time.
        concurrency = 1 if section == "9" else 2
        try:
            results = await kosoku.run_fuzzingclient(url, cases=[f"{section}.*"], concurrency=concurrency)
        except kosoku.FailureError as failure:
            results = list(failure.results)  # all of the run's results, failed or not
    AUTOBAHN_RESULTS[(loop_name(), section)] = results
    assert results, f"kosoku ran no case of section {section}"
    failed = [describe_case(r) for r in results if not r.passed]
    assert not failed, "\n".join(failed)
