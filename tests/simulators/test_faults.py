"""Every knob and fault shows its effect on the wire (simulators served in the test's own loop)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aigw.testing.simulators import OpenAISimulator, Simulators

from .conftest import data_frames, json_frames

PROMPT = "alpha beta gamma delta epsilon"


@pytest.fixture
async def sim() -> AsyncIterator[OpenAISimulator]:
    async with Simulators("openai") as sims:
        yield sims["openai"]


def chat(stream: bool = True, model: str = "m", prompt: str = PROMPT) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}


async def post(sim: OpenAISimulator, body: dict[str, Any], **headers: str) -> tuple[int, bytes]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            sim.base_url() + "/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {sim.key}", **headers},
        ) as resp:
            return resp.status, await resp.read()


async def raw_request(
    sim: OpenAISimulator, body: dict[str, Any]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    payload = json.dumps(body).encode()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {sim.key}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    await writer.drain()
    return reader, writer


async def read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        piece = await reader.read(65536)
        assert piece, f"connection ended before {marker!r}: {data!r}"
        data += piece
    return data


# ---- content knobs ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [1, 2, 5])
async def test_chunks_knob_sets_the_number_of_content_frames(
    sim: OpenAISimulator, chunks: int
) -> None:
    sim.chunks = chunks
    _, body = await post(sim, chat())
    contents = [c["choices"][0]["delta"].get("content") for c in json_frames(body)]
    assert len([c for c in contents if c]) == chunks
    assert "".join(c or "" for c in contents) == PROMPT


async def test_concurrent_requests_get_their_own_content(sim: OpenAISimulator) -> None:
    sim.chunk_delay = 0.01
    prompts = [f"request number {i} says hello" for i in range(6)]
    results = await asyncio.gather(*(post(sim, chat(prompt=p)) for p in prompts))
    texts = [
        "".join(c["choices"][0]["delta"].get("content", "") for c in json_frames(b))
        for _, b in results
    ]
    assert texts == prompts


async def test_reply_knob_replaces_the_echo(sim: OpenAISimulator) -> None:
    sim.reply = "fixed answer"
    _, body = await post(sim, chat(stream=False))
    assert json.loads(body)["choices"][0]["message"]["content"] == "fixed answer"


async def test_latency_delays_the_first_byte(sim: OpenAISimulator) -> None:
    sim.latency = 0.5
    reader, writer = await raw_request(sim, chat(stream=False))
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(1), 0.1)
    assert (await read_until(reader, b"\r\n")).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_chunk_delay_paces_content_frames(sim: OpenAISimulator) -> None:
    sim.chunk_delay = 0.5
    reader, writer = await raw_request(sim, chat())
    await read_until(reader, b'"content":"alpha ')
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(65536), 0.1)
    await read_until(reader, b"[DONE]")
    writer.close()


# ---- failures ---------------------------------------------------------------------------------


async def test_fail_next_count_fails_that_many_then_succeeds(sim: OpenAISimulator) -> None:
    sim.fail_next(500, count=2)
    statuses = [(await post(sim, chat(stream=False)))[0] for _ in range(3)]
    assert statuses == [500, 500, 200]


async def test_magic_model_fails_n_times_then_succeeds(sim: OpenAISimulator) -> None:
    statuses = [
        (await post(sim, chat(stream=False, model="gpt-sim-fail-503-x2")))[0] for _ in range(3)
    ]
    assert statuses == [503, 503, 200]


async def test_magic_model_without_count_always_fails(sim: OpenAISimulator) -> None:
    statuses = [(await post(sim, chat(stream=False, model="sim-fail-429")))[0] for _ in range(3)]
    assert statuses == [429, 429, 429]


async def test_fail_header_triggers_an_error(sim: OpenAISimulator) -> None:
    status, body = await post(sim, chat(), **{"x-sim-fail": "404"})
    assert status == 404 and json.loads(body)["error"]["code"] == "model_not_found"


async def test_bad_key_is_rejected_before_fail_next_is_consumed(sim: OpenAISimulator) -> None:
    sim.fail_next(500)
    async with aiohttp.ClientSession() as session:
        async with session.post(sim.base_url() + "/chat/completions", json=chat()) as resp:
            assert resp.status == 401
    assert (await post(sim, chat(stream=False)))[0] == 500


async def test_unknown_path_is_a_provider_shaped_404_and_recorded(sim: OpenAISimulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.url + "/v2/nothing") as resp:
            assert resp.status == 404
            assert "error" in await resp.json()
    assert sim.last_request.path == "/v2/nothing"


# ---- wire faults ------------------------------------------------------------------------------


async def test_reset_cuts_the_stream_with_a_tcp_reset(sim: OpenAISimulator) -> None:
    sim.fault_next("reset", after=1)
    reader, writer = await raw_request(sim, chat())
    received = await read_until(reader, b'"content":"alpha ')
    with pytest.raises(ConnectionResetError):
        while await reader.read(65536):
            pass
    assert b"[DONE]" not in received
    writer.close()


async def test_reset_surfaces_as_a_client_error(sim: OpenAISimulator) -> None:
    sim.fault_next("reset", after=2)
    with pytest.raises(aiohttp.ClientError):
        await post(sim, chat())


async def test_malformed_sends_an_unparseable_frame_and_goes_on(sim: OpenAISimulator) -> None:
    sim.fault_next("malformed", after=1)
    _, body = await post(sim, chat())
    frames = data_frames(body)
    bad = [f for f in frames if f != "[DONE]" and not _is_json(f)]
    assert len(bad) == 1 and frames[-1] == "[DONE]"


async def test_malformed_non_stream_body_is_truncated_json(sim: OpenAISimulator) -> None:
    sim.fault_next("malformed")
    status, body = await post(sim, chat(stream=False))
    assert status == 200 and not _is_json(body.decode())


async def test_stall_stops_sending_but_keeps_the_connection_open(sim: OpenAISimulator) -> None:
    sim.fault_next("stall", after=1)
    reader, writer = await raw_request(sim, chat())
    await read_until(reader, b'"content":"alpha ')
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(reader.read(65536), 0.3)
    assert not reader.at_eof()
    writer.close()


async def test_error_fault_ends_the_stream_with_the_provider_error_frame(
    sim: OpenAISimulator,
) -> None:
    sim.fault_next("error", after=2)
    _, body = await post(sim, chat())
    frames = data_frames(body)
    assert json.loads(frames[-1])["error"]["type"] == "server_error"
    assert "[DONE]" not in frames


async def test_fault_header_with_after_zero_breaks_before_any_chunk(sim: OpenAISimulator) -> None:
    _, body = await post(sim, chat(), **{"x-sim-fault": "malformed-after-0"})
    assert not _is_json(data_frames(body)[0])


async def test_magic_model_triggers_a_fault(sim: OpenAISimulator) -> None:
    _, body = await post(sim, chat(model="gpt-sim-fault-error-after-1"))
    assert "error" in json.loads(data_frames(body)[-1])


async def test_slow_headers_trickle_one_line_at_a_time(sim: OpenAISimulator) -> None:
    sim.fault_next("slow_headers", delay=0.1)
    reader, writer = await raw_request(sim, chat(stream=False))
    first = await reader.read(65536)
    assert first == b"HTTP/1.1 200 OK\r\n"
    rest = await read_until(reader, b"\r\n\r\n")
    while not reader.at_eof():
        rest += await reader.read(65536)
    head, _, body = rest.partition(b"\r\n\r\n")
    assert json.loads(body)["choices"][0]["message"]["content"] == PROMPT
    writer.close()


async def test_slow_headers_response_is_still_parseable_by_a_client(sim: OpenAISimulator) -> None:
    sim.fault_next("slow_headers", delay=0.01)
    status, body = await post(sim, chat())
    assert status == 200 and data_frames(body)[-1] == "[DONE]"


# ---- knob hygiene -----------------------------------------------------------------------------


def test_unknown_fault_kind_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        OpenAISimulator().fault_next("explode")  # type: ignore[arg-type]


async def test_reset_restores_knobs_and_forgets_state(sim: OpenAISimulator) -> None:
    sim.chunks, sim.reply = 7, "x"
    sim.fail_next(500)
    await post(sim, chat(stream=False))
    sim.fail_next(500)
    sim.reset()
    assert (sim.chunks, sim.reply, sim.requests) == (3, None, [])
    assert (await post(sim, chat(stream=False)))[0] == 200


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
