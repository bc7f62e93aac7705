"""aigw-otel tests: a real gateway on the session's provider simulators, traffic over real
WebSockets, spans caught by the SDK's in-memory exporter or by a local OTLP/HTTP receiver.
The plugin module is imported from its source directory (no install needed) and registered
inline; the Universal API helpers come from aigw's own tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
sys.path.insert(0, str(HERE.parents[1]))  # aigw_otel.py
sys.path.insert(0, str(HERE.parents[3] / "tests" / "api"))  # universal_ws_helpers.py


@pytest.fixture
def sims(aigw_simulators):
    for sim in aigw_simulators.values():
        sim.chunks, sim.chunk_delay = 4, 0.001
    return aigw_simulators


@pytest.fixture
def gateway(aigw_gateway_factory, sims):
    return aigw_gateway_factory
