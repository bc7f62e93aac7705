"""aigw's pytest plugin (entry point ``pytest11: aigw``): fixtures for testing against aigw.

Provider simulator fixtures (need the ``testing`` extra, i.e. aiohttp; this module itself imports
nothing optional, so installing aigw never breaks an unrelated test suite):

* ``aigw_simulators_session`` — every simulator, started once per session in a background thread;
* ``aigw_simulators`` — the same set, ``reset()`` before and after the test (recordings, pending
  failures/faults, knobs), so tests do not see each other's state;
* ``aigw_sim_<slug>`` — one simulator, e.g. ``aigw_sim_openai``, ``aigw_sim_workers_ai``,
  ``aigw_sim_google_ai_studio``, ``aigw_sim_perplexity_ai`` (reset like ``aigw_simulators``).

The servers live on their own loop, so the fixtures work from sync tests and from async tests on
any event loop.

Gateway fixtures (aigw.testing.gateway; a real gateway on a loopback port, on the test's loop):

* ``aigw_gateway_factory`` — ``async with aigw_gateway_factory(**config) as gw:`` starts a
  gateway whose providers point at ``aigw_simulators`` (stored keys), in a data dir under
  ``tmp_path``; ``config`` tables are merged over the generated config (see ``running_gateway``);
* ``aigw_gateway`` — one such gateway with the default config, for async tests (needs
  pytest-asyncio). ``gw.url``, ``gw.token``, ``gw.headers``, ``gw.gateway``, ``gw.data_dir``;
* ``aigw_client`` — an ``aigw.client.UniversalClient`` connected to ``aigw_gateway``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

# The plugin-manager fixtures (aigw.testing.plugins) ride along with this pytest11 plugin.
pytest_plugins = ["aigw.testing.plugins"]

if TYPE_CHECKING:
    from aigw.testing.simulators import Simulator, Simulators

SIMULATOR_SLUGS = (
    "openai",
    "anthropic",
    "workers-ai",
    "google-ai-studio",
    "groq",
    "mistral",
    "deepseek",
    "grok",
    "perplexity-ai",
    "openrouter",
    "cerebras",
    "azure-openai",
    "aws-bedrock",
    "google-vertex-ai",
    "cohere",
    "huggingface",
    "ollama",
    "fireworks",
    "baseten",
    "parallel",
    "replicate",
    "cartesia",
    "elevenlabs",
    "deepgram",
    "fal",
    "ideogram",
)


@pytest.fixture(scope="session")
def aigw_simulators_session() -> Iterator[Simulators]:
    """Every provider simulator, served for the whole session from a background thread."""
    from aigw.testing.simulators import SimulatorsThread

    with SimulatorsThread() as sims:
        yield sims


@pytest.fixture
def aigw_simulators(aigw_simulators_session: Simulators) -> Iterator[Simulators]:
    """The session's simulators, reset before and after the test."""
    aigw_simulators_session.reset()
    yield aigw_simulators_session
    aigw_simulators_session.reset()


def _simulator_fixture(slug: str) -> Any:
    def fixture(aigw_simulators: Simulators) -> Simulator:
        return aigw_simulators[slug]

    name = "aigw_sim_" + slug.replace("-", "_")
    fixture.__name__ = name
    fixture.__doc__ = f"The {slug} simulator (started for the session, reset around the test)."
    return pytest.fixture(name=name)(fixture)


for _slug in SIMULATOR_SLUGS:
    globals()["aigw_sim_" + _slug.replace("-", "_")] = _simulator_fixture(_slug)
del _slug


# ---- gateway fixtures (universal-e2e helper) ----


@pytest.fixture
def aigw_gateway_factory(aigw_simulators: Simulators, tmp_path: Any) -> Any:
    """``async with aigw_gateway_factory(**config) as gw``: a gateway on the session's
    simulators; each call gets its own data dir under ``tmp_path``."""
    import itertools

    from aigw.testing.gateway import running_gateway

    counter = itertools.count()

    def factory(**config: Any) -> Any:
        config.setdefault("data_dir", tmp_path / f"gateway-{next(counter)}")
        return running_gateway(aigw_simulators, **config)

    return factory


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the async fixture needs pytest-asyncio
    pass
else:

    @pytest_asyncio.fixture
    async def aigw_gateway(aigw_gateway_factory: Any) -> Any:
        """A running gateway with the default config on the session's simulators."""
        async with aigw_gateway_factory() as gw:
            yield gw

    @pytest_asyncio.fixture
    async def aigw_client(aigw_gateway: Any) -> Any:
        """An ``aigw.client.UniversalClient`` connected to ``aigw_gateway`` (needs websockets)."""
        from aigw.client import UniversalClient

        async with UniversalClient(aigw_gateway.url, token=aigw_gateway.token) as client:
            yield client


# ---- end gateway fixtures ----
