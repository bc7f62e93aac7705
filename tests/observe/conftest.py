"""Observability end-to-end tests (issue 13): a real gateway on a loopback port, the session's
provider simulators, real clients (websockets for traffic; aiohttp for /metrics and the logs
API), and prometheus_client's own text parser for what /metrics says."""

from __future__ import annotations

import sys
from pathlib import Path


# The Universal API test helpers (request bodies, answer readers) live beside the API tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))
