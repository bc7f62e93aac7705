"""The Autobahn TestSuite's fuzzing client (kosoku 0.1.0, which runs Autobahn's own case files)
against the echo app, section by section, on uvloop and stock asyncio.

Every case must pass: behavior OK, or NON-STRICT / INFORMATIONAL where Autobahn allows it, with
a clean close. The per-section counts are printed in the terminal summary (tests/conftest.py).
Sections 12 and 13 are permessage-deflate, so the server offers it here.

Which loop: the framing, fragmentation, UTF-8, close and limits sections (1-10) run on both
loops, since they drive the transports and close paths the loop owns. The permessage-deflate
sections are the Rust codec's compression over the same transport code, and by far the longest
(a thousand messages per case): 12 runs on uvloop and 13 on stock asyncio, so each loop still
carries deflate end to end without running ~4 minutes of identical codec work twice.
"""

from __future__ import annotations

import asyncio

import kosoku
import pytest

from .conftest import AUTOBAHN_RESULTS, describe_case, echo_server

SECTIONS = ["1", "2", "3", "4", "5", "6", "7", "9", "10"]  # on both loops

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def loop_name() -> str:
    return "uvloop" if type(asyncio.get_running_loop()).__module__.startswith("uvloop") else "asyncio"


@pytest.mark.parametrize("section", SECTIONS)
async def test_autobahn_section_passes(section):
    await assert_section_passes(section)


@pytest.mark.asyncio(loop_factories=["uvloop"])
async def test_autobahn_deflate_section_12_passes_on_uvloop():
    await assert_section_passes("12")


@pytest.mark.asyncio(loop_factories=["asyncio"])
async def test_autobahn_deflate_section_13_passes_on_asyncio():
    await assert_section_passes("13")


async def assert_section_passes(section: str) -> None:
    """Run one Autobahn section against the echo app (deflate offered); every case must pass."""
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
