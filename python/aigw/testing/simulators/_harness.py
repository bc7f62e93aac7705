"""Start a set of simulators together: in the running loop, or in a background thread.

``Simulators`` is the async context manager (each simulator on a free loopback port of the
running loop); ``SimulatorsThread`` runs the same thing on a private event loop in a daemon
thread, for synchronous tests and for tests whose own loop must stay free (pytest fixtures).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping
from typing import Any

from ._core import Simulator
from .anthropic import AnthropicSimulator
from .aws_bedrock import AwsBedrockSimulator
from .azure_openai import AzureOpenAISimulator
from .cohere import CohereSimulator
from .google import GoogleAIStudioSimulator
from .google_vertex import GoogleVertexAISimulator
from .openai import OpenAISimulator
from .huggingface import HuggingFaceSimulator
from .media import CartesiaSimulator, DeepgramSimulator, ElevenLabsSimulator, FalSimulator, IdeogramSimulator
from .ollama import OllamaSimulator
from .openai_compatible import (
    BasetenSimulator,
    CerebrasSimulator,
    DeepSeekSimulator,
    FireworksSimulator,
    GrokSimulator,
    GroqSimulator,
    MistralSimulator,
    OpenRouterSimulator,
    PerplexitySimulator,
)
from .parallel import ParallelSimulator
from .replicate import ReplicateSimulator
from .workers_ai import WorkersAISimulator

SIMULATORS: dict[str, type[Simulator]] = {
    cls.slug: cls
    for cls in (
        OpenAISimulator,
        AnthropicSimulator,
        WorkersAISimulator,
        GoogleAIStudioSimulator,
        GroqSimulator,
        MistralSimulator,
        DeepSeekSimulator,
        GrokSimulator,
        PerplexitySimulator,
        OpenRouterSimulator,
        CerebrasSimulator,
        AzureOpenAISimulator,
        AwsBedrockSimulator,
        GoogleVertexAISimulator,
        CohereSimulator,
        HuggingFaceSimulator,
        OllamaSimulator,
        FireworksSimulator,
        BasetenSimulator,
        ParallelSimulator,
        ReplicateSimulator,
        CartesiaSimulator,
        ElevenLabsSimulator,
        DeepgramSimulator,
        FalSimulator,
        IdeogramSimulator,
    )
}
"""Simulator classes by Cloudflare provider slug."""


class Simulators(Mapping[str, Simulator]):
    """A started set of simulators, by slug (also as attributes: ``sims.workers_ai``).

    ``Simulators()`` starts every provider; ``Simulators("openai", "anthropic")`` a chosen set;
    ``Simulators(openai=OpenAISimulator(chunks=5))`` passes configured instances. Use it as
    ``async with Simulators(...) as sims:`` inside the loop that should serve them.
    """

    def __init__(self, *slugs: str, **instances: Simulator) -> None:
        chosen: dict[str, Simulator] = {}
        for slug in slugs or (() if instances else tuple(SIMULATORS)):
            if slug not in SIMULATORS:
                raise ValueError(f"unknown simulator {slug!r}; known: {', '.join(SIMULATORS)}")
            chosen[slug] = SIMULATORS[slug]()
        for name, sim in instances.items():
            chosen[sim.slug or name.replace("_", "-")] = sim
        self._sims = chosen

    def __getitem__(self, slug: str) -> Simulator:
        return self._sims[slug]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sims)

    def __len__(self) -> int:
        return len(self._sims)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_sims"][name.replace("_", "-")]
        except KeyError:
            raise AttributeError(name) from None

    def base_url(self, slug: str) -> str:
        """The base URL to configure for provider ``slug``."""
        return self._sims[slug].base_url()

    def base_urls(self) -> dict[str, str]:
        """Every started simulator's base URL, by slug."""
        return {slug: sim.base_url() for slug, sim in self._sims.items()}

    def provider_settings(self) -> dict[str, dict[str, str]]:
        """``{slug: {"base_url", "key", …}}``: what a gateway's ``[providers.<slug>]`` needs."""
        return {
            slug: {"base_url": sim.base_url(), "key": sim.key, **sim.provider_options()}
            for slug, sim in self._sims.items()
        }

    def reset(self) -> None:
        """``reset()`` every simulator (recordings, pending failures/faults, knobs)."""
        for sim in self._sims.values():
            sim.reset()

    async def start(self) -> None:
        """Start every simulator on a free loopback port of the running loop."""
        try:
            for sim in self._sims.values():
                await sim.start()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every started simulator."""
        for sim in self._sims.values():
            await sim.stop()

    async def __aenter__(self) -> Simulators:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


class SimulatorsThread:
    """Serve a ``Simulators`` set from a private event loop in a daemon thread.

    ``with SimulatorsThread("openai") as sims:`` works in synchronous code and in async tests
    alike (clients talk to it over loopback sockets, so no loop is shared).
    """

    def __init__(self, *slugs: str, **instances: Simulator) -> None:
        self.simulators = Simulators(*slugs, **instances)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="aigw-simulators", daemon=True
        )

    def start(self) -> Simulators:
        """Start the thread and the simulators; return the started set."""
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.simulators.start(), self._loop).result(timeout=30)
        return self.simulators

    def stop(self) -> None:
        """Stop the simulators, the loop and the thread."""
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.simulators.stop(), self._loop).result(timeout=30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=30)
        self._loop.close()

    def __enter__(self) -> Simulators:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
