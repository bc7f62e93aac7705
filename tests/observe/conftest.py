"""Observability end-to-end tests (issue 13): a real gateway on a loopback port, the session's
provider simulators, real clients (websockets for traffic; aiohttp for /metrics and the logs
API), and prometheus_client's own text parser for what /metrics says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The Universal API test helpers (request bodies, answer readers) live beside the API tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))


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
