"""Faults in each provider's own shape, and shutdown while a stream is stalled."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import openai
import pytest
from aigw.testing.simulators import Simulator, Simulators

from .conftest import data_frames

PROMPT = "one two three"
CHAT = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": True}


def request_for(slug: str, sim: Simulator) -> tuple[str, dict[str, str], dict[str, Any]]:
    """(url, headers, body) of a streaming request to ``sim``."""
    bearer = {"Authorization": f"Bearer {sim.key}"}
    if slug == "anthropic":
        headers = {"x-api-key": sim.key, "anthropic-version": "2023-06-01"}
        return sim.base_url() + "/v1/messages", headers, {**CHAT, "max_tokens": 10}
    if slug == "google-ai-studio":
        url = sim.base_url() + "/v1beta/models/g:streamGenerateContent?alt=sse"
        return url, {"x-goog-api-key": sim.key}, {"contents": [{"parts": [{"text": PROMPT}]}]}
    if slug == "workers-ai":
        return sim.base_url() + "/run/@cf/meta/llama", bearer, {"prompt": PROMPT, "stream": True}
    return (
        sim.base_url() + ("/chat/completions" if slug != "openai-responses" else ""),
        bearer,
        CHAT,
    )


async def stream_body(slug: str, sim: Simulator) -> bytes:
    url, headers, body = request_for(slug, sim)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            assert resp.status == 200
            return await resp.read()


EXPECTED_ERROR = {
    "openai": lambda e: e["error"]["type"] == "server_error",
    "groq": lambda e: e["error"]["type"] == "server_error",
    "deepseek": lambda e: e["error"]["type"] == "server_error",
    "cerebras": lambda e: e["error"]["type"] == "server_error",
    "perplexity-ai": lambda e: e["error"]["type"] == "server_error",
    "mistral": lambda e: e["object"] == "error",
    "grok": lambda e: isinstance(e["error"], str),
    "openrouter": lambda e: e["choices"][0]["finish_reason"] == "error",
    "anthropic": lambda e: (
        e == {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ),
    "google-ai-studio": lambda e: e["error"]["status"] == "INTERNAL",
    "workers-ai": lambda e: e["success"] is False,
}


@pytest.mark.parametrize("slug", sorted(EXPECTED_ERROR))
async def test_error_fault_sends_the_providers_error_event_last(
    aigw_simulators: Simulators, slug: str
) -> None:
    sim = aigw_simulators[slug]
    sim.fault_next("error", after=1)
    body = await stream_body(slug, sim)
    eol = b"\r\n" if slug in ("perplexity-ai", "google-ai-studio") else b"\n"
    assert body.endswith(eol + eol)
    last = json.loads(data_frames(body, eol)[-1])
    assert EXPECTED_ERROR[slug](last)
    if slug == "anthropic":
        assert body.rsplit(b"\n\n", 2)[-2].startswith(b"event: error\n")


@pytest.mark.parametrize("slug", sorted(EXPECTED_ERROR))
async def test_malformed_fault_sends_one_unparseable_frame(
    aigw_simulators: Simulators, slug: str
) -> None:
    sim = aigw_simulators[slug]
    sim.fault_next("malformed", after=1)
    body = await stream_body(slug, sim)
    eol = b"\r\n" if slug in ("perplexity-ai", "google-ai-studio") else b"\n"
    frames = [f for f in data_frames(body, eol) if f != "[DONE]"]
    bad = [f for f in frames if not _is_json(f)]
    assert len(bad) == 1


async def test_stopping_releases_a_stalled_stream() -> None:
    sims = Simulators("anthropic")
    await sims.start()
    sim = sims.anthropic
    sim.fault_next("stall", after=1)
    url, headers, body = request_for("anthropic", sim)
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=body, headers=headers) as resp:
            first = await resp.content.readuntil(b"content_block_delta")
            assert b"message_start" in first
            await sims.stop()
            with pytest.raises(aiohttp.ClientError):
                await asyncio.wait_for(resp.read(), 5)


async def test_reset_on_a_non_stream_response_cuts_the_body(aigw_sim_openai: Simulator) -> None:
    aigw_sim_openai.fault_next("reset")
    url, headers, body = request_for("openai", aigw_sim_openai)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            async with session.post(url, json={**body, "stream": False}, headers=headers) as resp:
                await resp.read()


def test_models_list_through_the_sdk(aigw_sim_openai: Simulator) -> None:
    client = openai.OpenAI(api_key=aigw_sim_openai.key, base_url=aigw_sim_openai.base_url())
    assert [m.id for m in client.models.list()] == ["sim-model"]


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
