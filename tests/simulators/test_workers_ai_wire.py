"""Workers AI simulator checked on the raw wire against providers.md §6."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
from aigw.testing.simulators import WorkersAISimulator

from .conftest import data_frames

MODEL = "@cf/meta/llama-3.1-8b-instruct"
PROMPT = "where is new york"


async def run(
    sim: WorkersAISimulator,
    body: Any,
    *,
    model: str = MODEL,
    key: str | None = None,
    url: str | None = None,
) -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {key or sim.key}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(url or sim.run_url(model), json=body, headers=headers) as resp:
            return resp.status, await resp.read()


async def test_run_answers_in_the_v4_envelope(aigw_sim_workers_ai: WorkersAISimulator) -> None:
    status, body = await run(
        aigw_sim_workers_ai, {"messages": [{"role": "user", "content": PROMPT}]}
    )
    assert status == 200
    assert json.loads(body) == {
        "result": {
            "response": PROMPT,
            "tool_calls": [],
            "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8},
        },
        "success": True,
        "errors": [],
        "messages": [],
    }


async def test_model_with_at_and_slashes_reaches_the_simulator_intact(
    aigw_sim_workers_ai: WorkersAISimulator,
) -> None:
    status, _ = await run(
        aigw_sim_workers_ai, {"prompt": PROMPT}, model="@hf/thebloke/some-model-awq"
    )
    request = aigw_sim_workers_ai.last_request
    assert status == 200
    account = aigw_sim_workers_ai.account_id
    assert request.path == f"/client/v4/accounts/{account}/ai/run/@hf/thebloke/some-model-awq"


async def test_stream_has_padding_then_usage_frame_then_done(
    aigw_sim_workers_ai: WorkersAISimulator,
) -> None:
    _, body = await run(aigw_sim_workers_ai, {"prompt": PROMPT, "stream": True})
    frames = data_frames(body)
    assert frames[-1] == "[DONE]"
    chunks = [json.loads(f) for f in frames[:-1]]
    assert all("p" in c for c in chunks[:-1])
    assert "".join(c["response"] for c in chunks) == PROMPT
    assert chunks[-1] == {
        "response": "",
        "usage": {"prompt_tokens": 4, "completion_tokens": 4, "total_tokens": 8},
    }


async def test_bad_token_is_401_in_the_envelope(aigw_sim_workers_ai: WorkersAISimulator) -> None:
    status, body = await run(aigw_sim_workers_ai, {"prompt": PROMPT}, key="wrong")
    error = json.loads(body)
    assert (status, error["success"], error["errors"][0]["code"]) == (401, False, 10000)


async def test_unknown_account_is_404(aigw_sim_workers_ai: WorkersAISimulator) -> None:
    url = f"{aigw_sim_workers_ai.url}/client/v4/accounts/other/ai/run/{MODEL}"
    status, body = await run(aigw_sim_workers_ai, {"prompt": PROMPT}, url=url)
    assert (status, json.loads(body)["errors"][0]["code"]) == (404, 7003)


async def test_rate_limit_is_3040_in_the_envelope(aigw_sim_workers_ai: WorkersAISimulator) -> None:
    aigw_sim_workers_ai.fail_next(429)
    status, body = await run(aigw_sim_workers_ai, {"prompt": PROMPT})
    assert (status, json.loads(body)["errors"][0]["code"]) == (429, 3040)


async def test_embedding_model_returns_shape_and_data(
    aigw_sim_workers_ai: WorkersAISimulator,
) -> None:
    _, body = await run(
        aigw_sim_workers_ai, {"text": ["a", "b"]}, model="@cf/baai/bge-base-en-v1.5"
    )
    result = json.loads(body)["result"]
    assert result["shape"] == [2, 8] and len(result["data"]) == 2


def test_openai_compatible_v1_endpoint_with_the_sdk(
    aigw_sim_workers_ai: WorkersAISimulator,
) -> None:
    client = openai.OpenAI(
        api_key=aigw_sim_workers_ai.key,
        base_url=aigw_sim_workers_ai.base_url() + "/v1",
        max_retries=0,
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": PROMPT}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == PROMPT
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 8
    assert client.embeddings.create(model="@cf/baai/bge-base-en-v1.5", input="x").data[0].embedding
