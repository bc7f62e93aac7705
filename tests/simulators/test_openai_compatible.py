"""The openai SDK streams from every OpenAI-compatible simulator; each keeps its wire quirks."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest
from aigw.testing.simulators import Simulator, Simulators

from .conftest import data_frames, json_frames

PROMPT = "one two three four five"
FAMILY = ["groq", "mistral", "deepseek", "grok", "perplexity-ai", "openrouter", "cerebras"]


def sdk(sim: Simulator, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(api_key=key or sim.key, base_url=sim.base_url(), max_retries=0)


async def raw_chat(sim: Simulator, body: dict, key: str | None = None) -> tuple[int, Any, bytes]:
    headers = {"Authorization": f"Bearer {key or sim.key}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.base_url() + "/chat/completions", json=body, headers=headers
        ) as resp:
            return resp.status, resp.headers.copy(), await resp.read()


STREAM = {"model": "m", "messages": [{"role": "user", "content": PROMPT}], "stream": True}


@pytest.mark.parametrize("slug", FAMILY)
def test_sdk_stream_parses_without_error(aigw_simulators: Simulators, slug: str) -> None:
    stream = sdk(aigw_simulators[slug]).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == PROMPT
    usages = [c.usage for c in chunks if c.usage is not None]
    assert usages and usages[-1].completion_tokens == 5


@pytest.mark.parametrize("slug", FAMILY)
def test_sdk_non_stream_parses_without_error(aigw_simulators: Simulators, slug: str) -> None:
    completion = sdk(aigw_simulators[slug]).chat.completions.create(
        model="m", messages=[{"role": "user", "content": PROMPT}]
    )
    assert completion.choices[0].message.content == PROMPT
    assert completion.usage is not None and completion.usage.prompt_tokens == 5


@pytest.mark.parametrize("slug", FAMILY)
def test_sdk_reports_bad_key_as_an_api_status_error(aigw_simulators: Simulators, slug: str) -> None:
    with pytest.raises(openai.APIStatusError) as info:
        sdk(aigw_simulators[slug], key="wrong").chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == (400 if slug == "grok" else 401)


async def test_groq_puts_x_groq_usage_on_the_finishing_chunk(aigw_sim_groq: Simulator) -> None:
    _, _, body = await raw_chat(aigw_sim_groq, STREAM)
    chunks = json_frames(body)
    assert chunks[0]["x_groq"] == {"id": chunks[0]["x_groq"]["id"]}
    final = next(c for c in chunks if c["choices"][0]["finish_reason"])
    assert final["x_groq"]["usage"]["completion_tokens"] == 5
    assert "queue_time" in final["x_groq"]["usage"]
    assert data_frames(body)[-1] == "[DONE]"


async def test_groq_rate_limit_has_groq_headers(aigw_sim_groq: Simulator) -> None:
    aigw_sim_groq.fail_next(429)
    status, headers, _ = await raw_chat(aigw_sim_groq, STREAM)
    assert status == 429
    assert headers["retry-after"] == "1"
    assert headers["x-ratelimit-reset-requests"] == "2m59.56s"


async def test_mistral_sends_usage_in_last_chunk_without_stream_options(
    aigw_sim_mistral: Simulator,
) -> None:
    _, _, body = await raw_chat(aigw_sim_mistral, STREAM)
    chunks = json_frames(body)
    assert chunks[-1]["usage"]["total_tokens"] == 10
    assert all("usage" not in c for c in chunks[:-1])


async def test_mistral_error_shapes(aigw_sim_mistral: Simulator) -> None:
    status, _, body = await raw_chat(aigw_sim_mistral, STREAM, key="wrong")
    assert (status, json.loads(body)["message"]) == (401, "Unauthorized")
    aigw_sim_mistral.fail_next(400)
    status, _, body = await raw_chat(aigw_sim_mistral, STREAM)
    assert status == 400 and json.loads(body)["object"] == "error"


def test_mistral_embeddings_through_the_sdk(aigw_sim_mistral: Simulator) -> None:
    result = sdk(aigw_sim_mistral).embeddings.create(model="mistral-embed", input="hello")
    assert len(result.data[0].embedding) == 8


async def test_deepseek_sends_keep_alive_comments_before_chunks(
    aigw_sim_deepseek: Simulator,
) -> None:
    _, _, body = await raw_chat(aigw_sim_deepseek, STREAM)
    assert body.startswith(b": keep-alive\n\n: keep-alive\n\ndata: ")
    assert json_frames(body)[-1]["usage"]["prompt_cache_miss_tokens"] == 5


async def test_deepseek_non_stream_json_follows_blank_lines(aigw_sim_deepseek: Simulator) -> None:
    status, _, body = await raw_chat(aigw_sim_deepseek, {**STREAM, "stream": False})
    assert status == 200 and body.startswith(b"\n\n{")


def test_deepseek_also_serves_v1(aigw_sim_deepseek: Simulator) -> None:
    client = openai.OpenAI(
        api_key=aigw_sim_deepseek.key, base_url=aigw_sim_deepseek.url + "/v1", max_retries=0
    )
    assert client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}]
    ).id


async def test_grok_bad_key_is_400_with_a_flat_body(aigw_sim_grok: Simulator) -> None:
    status, _, body = await raw_chat(aigw_sim_grok, STREAM, key="xai-wrong")
    error = json.loads(body)
    assert status == 400
    assert error["code"] == "Client specified an invalid argument"
    assert error["error"].startswith("Incorrect API key provided")


async def test_perplexity_frames_with_crlf_and_no_done(aigw_sim_perplexity_ai: Simulator) -> None:
    _, _, body = await raw_chat(aigw_sim_perplexity_ai, STREAM)
    assert body.endswith(b"\r\n\r\n") and b"\n\n" not in body.replace(b"\r\n", b"")
    assert b"[DONE]" not in body
    chunks = json_frames(body, eol=b"\r\n")
    assert all(c["usage"]["completion_tokens"] == 5 for c in chunks)
    assert chunks[-1]["choices"][0]["message"]["content"] == PROMPT


async def test_openrouter_sends_processing_comments_and_generation_id(
    aigw_sim_openrouter: Simulator,
) -> None:
    _, headers, body = await raw_chat(aigw_sim_openrouter, STREAM)
    assert body.startswith(b": OPENROUTER PROCESSING\n\n")
    assert headers["X-Generation-Id"].startswith("gen-")
    assert "cost" in json_frames(body)[-1]["usage"]


async def test_openrouter_mid_stream_error_is_a_chunk_with_finish_reason_error(
    aigw_sim_openrouter: Simulator,
) -> None:
    aigw_sim_openrouter.fault_next("error", after=2)
    _, _, body = await raw_chat(aigw_sim_openrouter, STREAM)
    last = json_frames(body)[-1]
    assert last["error"]["code"] == 502 and last["choices"][0]["finish_reason"] == "error"
    assert b"[DONE]" not in body


async def test_cerebras_final_chunk_has_time_info_and_errors_are_flat(
    aigw_sim_cerebras: Simulator,
) -> None:
    _, _, body = await raw_chat(aigw_sim_cerebras, STREAM)
    final = json_frames(body)[-1]
    assert "time_info" in final and final["usage"]["completion_tokens"] == 5
    status, _, body = await raw_chat(aigw_sim_cerebras, STREAM, key="wrong")
    assert (status, json.loads(body)["code"]) == (401, "wrong_api_key")


async def test_cerebras_missing_key_is_403_not_authenticated(aigw_sim_cerebras: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            aigw_sim_cerebras.base_url() + "/chat/completions", json=STREAM
        ) as resp:
            assert resp.status == 403
            assert await resp.json() == {"detail": "Not authenticated"}
