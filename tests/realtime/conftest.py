"""Realtime pass-through tests: a real gateway on a loopback port between real WebSocket clients
(the `openai` SDK, `websockets`) and the realtime simulators (aigw.testing, on `websockets`).
Async tests run on stock asyncio and on uvloop."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import uvloop

from aigw.testing.gateway import running_gateway
from aigw.testing.simulators.realtime_deepgram import DeepgramLiveSimulator
from aigw.testing.simulators.realtime_gemini import GeminiLiveSimulator
from aigw.testing.simulators.realtime_openai import OpenAIRealtimeSimulator


def pytest_asyncio_loop_factories(config, item):
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
async def openai_sim():
    """An OpenAI Realtime simulator on the test's loop."""
    async with OpenAIRealtimeSimulator() as sim:
        yield sim


@pytest.fixture
async def gemini_sim():
    """A Gemini Live simulator on the test's loop."""
    async with GeminiLiveSimulator() as sim:
        yield sim


@pytest.fixture
async def deepgram_sim():
    """A Deepgram simulator (live transcription and streaming TTS) on the test's loop."""
    async with DeepgramLiveSimulator() as sim:
        yield sim


@pytest.fixture
async def workers_sim():
    """The Deepgram simulator serving Workers AI's @cf/deepgram models."""
    async with DeepgramLiveSimulator(workers_ai=True, key="sim-cf-token") as sim:
        yield sim


@pytest.fixture
def realtime_gateway(tmp_path):
    """`async with realtime_gateway(openai=sim, google=sim, sims={slug: sim}, stored_keys=True,
    ssl=None, **config) as gw`: a gateway whose openai / google-ai-studio (and each `sims` slug's)
    realtime endpoints are the given simulators, with their keys stored unless `stored_keys` is
    false; served over TLS with the server context `ssl`."""

    @contextlib.asynccontextmanager
    async def start(openai=None, google=None, *, sims=None, stored_keys=True, ssl=None, **config):
        providers = {}
        pairs = [("openai", openai), ("google-ai-studio", google), *(sims or {}).items()]
        for slug, sim in pairs:
            if sim is not None:
                table = {"realtime_url": sim.base_url()}
                if stored_keys:
                    table["key"] = sim.key
                providers[slug] = table
        extra = dict(config)
        # Built-ins only: these tests need no installed plugin (and must not depend on one).
        extra.setdefault("plugins", {"enabled": []})
        extra["providers"] = {**providers, **extra.get("providers", {})}
        async with running_gateway(None, data_dir=tmp_path / "gw", ssl=ssl, **extra) as gw:
            yield gw

    return start
