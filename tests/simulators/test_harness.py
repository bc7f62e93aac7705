"""Starting simulators: the in-loop context manager, the thread runner and the pytest plugin."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from aigw.testing.simulators import (
    SIMULATORS,
    OpenAISimulator,
    Simulators,
    SimulatorsThread,
    base_url,
)


async def test_simulators_start_a_chosen_set_on_distinct_free_ports() -> None:
    async with Simulators("openai", "anthropic", "workers-ai") as sims:
        assert set(sims) == {"openai", "anthropic", "workers-ai"}
        assert len({sim.port for sim in sims.values()}) == 3
        assert sims.base_urls() == {
            "openai": f"http://127.0.0.1:{sims.openai.port}/v1",
            "anthropic": f"http://127.0.0.1:{sims.anthropic.port}",
            "workers-ai": f"http://127.0.0.1:{sims.workers_ai.port}/client/v4/accounts/sim-account/ai",
        }
        assert base_url("openai", sims) == sims.openai.base_url()


async def test_provider_settings_give_base_url_and_key_per_slug() -> None:
    async with Simulators("anthropic") as sims:
        assert sims.provider_settings() == {
            "anthropic": {"base_url": sims.anthropic.base_url(), "key": "sk-ant-sim"}
        }


async def test_simulators_default_to_every_provider() -> None:
    async with Simulators() as sims:
        assert set(sims) == set(SIMULATORS)
        for slug, sim in sims.items():
            async with aiohttp.ClientSession() as session:
                async with session.get(sim.url + "/no/such/path") as resp:
                    assert resp.status == 404, slug


async def test_configured_instances_are_used_as_given() -> None:
    async with Simulators(openai=OpenAISimulator(chunks=5, key="sk-mine")) as sims:
        assert sims.openai.chunks == 5 and sims.openai.key == "sk-mine"


def test_unknown_slug_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown simulator 'nope'"):
        Simulators("nope")


def test_base_url_before_start_is_a_clear_error() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        OpenAISimulator().base_url()


def test_thread_runner_serves_synchronous_clients() -> None:
    with SimulatorsThread("openai") as sims:
        request = urllib.request.Request(
            sims.openai.base_url() + "/chat/completions",
            data=b'{"model":"m","messages":[{"role":"user","content":"sync hello"}]}',
            headers={
                "Authorization": f"Bearer {sims.openai.key}",
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request) as resp:
            assert b'"content":"sync hello"' in resp.read()


def test_pytest_plugin_fixtures_serve_sync_tests_and_reset_between_them(tmp_path: Path) -> None:
    (tmp_path / "test_user_plugin.py").write_text(
        textwrap.dedent(
            """
        import openai

        def test_first(aigw_sim_openai):
            aigw_sim_openai.chunks = 9
            aigw_sim_openai.fail_next(500)
            client = openai.OpenAI(api_key="sk-wrong", base_url=aigw_sim_openai.base_url())
            try:
                client.with_options(max_retries=0).models.list()
            except openai.AuthenticationError:
                pass

        def test_second(aigw_sim_openai, aigw_simulators):
            assert aigw_sim_openai.chunks == 3 and aigw_sim_openai.requests == []
            client = openai.OpenAI(api_key=aigw_sim_openai.key, base_url=aigw_sim_openai.base_url())
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "no failure left"}]
            )
            assert reply.choices[0].message.content == "no failure left"
            assert aigw_simulators["openai"] is aigw_sim_openai
        """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout


def test_pytest_plugin_is_registered_as_an_entry_point() -> None:
    points = importlib.metadata.entry_points(group="pytest11")
    assert any(p.name == "aigw" and p.value == "aigw.testing.fixtures" for p in points)


def test_importing_simulators_without_aiohttp_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "import aigw.testing.fixtures\n"  # the pytest plugin itself must import fine
        "try:\n    import aigw.testing.simulators\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'aigw[testing]'" in out.stdout
