"""The OpenAI simulator's raw framing matches providers.md §1 byte for byte where it matters."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from aigw.testing.simulators import OpenAISimulator

from .conftest import data_frames


async def post(sim: OpenAISimulator, path: str, body: dict[str, Any]) -> tuple[Any, bytes]:
    headers = {"Authorization": f"Bearer {sim.key}"}
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url() + path, json=body, headers=headers) as resp:
            assert resp.status == 200
            return resp.headers.copy(), await resp.read()


async def test_chat_stream_is_data_only_sse_ending_in_done(
    aigw_sim_openai: OpenAISimulator,
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi there"}], "stream": True}
    headers, raw = await post(aigw_sim_openai, "/chat/completions", body)
    assert headers["Content-Type"] == "text/event-stream; charset=utf-8"
    assert raw.endswith(b"data: [DONE]\n\n")
    frames = [f for f in raw.split(b"\n\n") if f]
    assert all(f.startswith(b"data: ") and b"\n" not in f for f in frames)


async def test_include_usage_nulls_usage_on_every_other_chunk(
    aigw_sim_openai: OpenAISimulator,
) -> None:
    body = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    _, raw = await post(aigw_sim_openai, "/chat/completions", body)
    chunks = [json.loads(d) for d in data_frames(raw) if d != "[DONE]"]
    assert all(c["usage"] is None for c in chunks[:-1])
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}


async def test_responses_stream_names_every_event_and_has_no_done(
    aigw_sim_openai: OpenAISimulator,
) -> None:
    _, raw = await post(
        aigw_sim_openai, "/responses", {"model": "m", "input": "hi", "stream": True}
    )
    assert b"[DONE]" not in raw
    frames = [f for f in raw.split(b"\n\n") if f]
    for frame in frames:
        event_line, data_line = frame.split(b"\n")
        event = json.loads(data_line.removeprefix(b"data: "))
        assert event_line == b"event: " + event["type"].encode()
    last = json.loads(frames[-1].split(b"\n")[1].removeprefix(b"data: "))
    assert last["type"] == "response.completed"
    assert last["response"]["usage"]["output_tokens"] == 1


async def test_responses_max_output_tokens_ends_incomplete(
    aigw_sim_openai: OpenAISimulator,
) -> None:
    body = {"model": "m", "input": "one two three", "max_output_tokens": 1, "stream": True}
    _, raw = await post(aigw_sim_openai, "/responses", body)
    assert raw.rstrip().split(b"\n")[-2] == b"event: response.incomplete"
