"""Fixtures for the HTTP surfaces: a gateway (authentication on, a fresh token) in front of
the session's provider simulators, paced short."""

from __future__ import annotations

import pytest


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
