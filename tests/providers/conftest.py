"""Provider tests: adapters in isolation (no network), and each provider end to end through a
real gateway (Universal WebSocket API) against its wire-faithful simulator."""

from __future__ import annotations

import pytest


@pytest.fixture
def sims(aigw_simulators):
    """The session's simulators, reset around the test, with short stream pacing."""
    for sim in aigw_simulators.values():
        sim.chunks, sim.chunk_delay = 3, 0.001
    return aigw_simulators


@pytest.fixture
def gateway(aigw_gateway_factory, sims):
    """`async with gateway(**config) as gw`: a gateway whose providers are the simulators and
    whose plugins are the built-ins only (whatever else is installed in the environment)."""

    def factory(**config):
        config.setdefault("plugins", {"enabled": []})
        return aigw_gateway_factory(**config)

    return factory
