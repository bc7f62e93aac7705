"""Gemini Live through aigw, with a raw `websockets` client following Google's documented
messages, against the Gemini Live simulator (the google-genai SDK: test_realtime_gemini_sdk.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from test_realtime_openai import wait_for

from aigw.api.realtime_gemini import DROP, GeminiResumption

MODEL = "models/gemini-live-2.5-flash-preview"


async def receive(ws) -> dict:
    message = await asyncio.wait_for(ws.recv(), 3)
    return json.loads(message)


async def setup(ws, *, resumption: bool = False) -> None:
    body = {"model": MODEL, "generationConfig": {"responseModalities": ["TEXT"]}}
    if resumption:
        body["sessionResumption"] = {}
    await ws.send(json.dumps({"setup": body}))
    assert await receive(ws) == {"setupComplete": {}}
    if resumption:
        assert "sessionResumptionUpdate" in await receive(ws)


async def turn(ws, text: str, seen: list[dict] | None = None) -> tuple[str, dict]:
    """One clientContent turn; returns the model's text and the turnComplete message."""
    async with asyncio.timeout(5):
        return await _turn(ws, text, seen)


async def _turn(ws, text: str, seen: list[dict] | None) -> tuple[str, dict]:
    await ws.send(json.dumps({"clientContent": {"turns": [{"role": "user", "parts": [{"text": text}]}], "turnComplete": True}}))
    parts = []
    while True:
        msg = await receive(ws)
        if seen is not None:
            seen.append(msg)
        content = msg.get("serverContent") or {}
        for part in (content.get("modelTurn") or {}).get("parts") or []:
            parts.append(part["text"])
        if content.get("turnComplete"):
            return "".join(parts), msg


async def test_a_gemini_live_turn_through_the_google_slug_with_the_stored_key(realtime_gateway, gemini_sim):
    async with realtime_gateway(google=gemini_sim) as gw:
        async with websockets.connect(f"{gw.url}/google", additional_headers=gw.headers) as ws:
            await setup(ws)
            text, done = await turn(ws, "hello gemini")
    assert text == "turn 1: hello gemini"
    assert done["usageMetadata"]["responseTokenCount"] == 4
    upgrade = gemini_sim.connections[0]
    assert upgrade.headers["x-goog-api-key"] == gemini_sim.key
    assert "key" not in upgrade.query


async def test_binary_frames_from_gemini_reach_the_client_as_binary(realtime_gateway, gemini_sim):
    async with realtime_gateway(google=gemini_sim) as gw:
        async with websockets.connect(f"{gw.url}/google-ai-studio", additional_headers=gw.headers) as ws:
            await ws.send(json.dumps({"setup": {"model": MODEL}}))
            assert isinstance(await ws.recv(), bytes)  # Google sends its JSON in binary frames


async def test_an_api_key_in_the_query_moves_to_the_header_and_out_of_the_url(realtime_gateway, gemini_sim):
    async with realtime_gateway(google=gemini_sim, stored_keys=False) as gw:
        offered = ["cf-aig-authorization." + gw.token]
        async with websockets.connect(f"{gw.url}/google?api_key={gemini_sim.key}", subprotocols=offered) as ws:
            await setup(ws)
    upgrade = gemini_sim.connections[0]
    assert upgrade.headers["x-goog-api-key"] == gemini_sim.key
    assert upgrade.query == {} and upgrade.subprotocols == []


async def test_session_usage_is_summed_over_turns_and_the_model_comes_from_setup(realtime_gateway, gemini_sim):
    async with realtime_gateway(google=gemini_sim) as gw:
        async with websockets.connect(f"{gw.url}/google", additional_headers=gw.headers) as ws:
            await setup(ws)
            await turn(ws, "one two")
            await turn(ws, "three")
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.provider, record.model) == ("google-ai-studio", MODEL)
    # prompts 2 + 1 words; replies "turn 1: one two" (4) + "turn 2: three" (3)
    assert (record.tokens_in, record.tokens_out) == (3, 7)


async def test_goaway_with_resumption_reconnects_upstream_and_the_client_keeps_its_socket(realtime_gateway, gemini_sim):
    gemini_sim.go_away_after, gemini_sim.go_away_grace = 0.3, 0.5
    async with realtime_gateway(google=gemini_sim) as gw:
        seen: list[dict] = []
        async with websockets.connect(f"{gw.url}/google", additional_headers=gw.headers) as ws:
            await setup(ws, resumption=True)
            first, _ = await turn(ws, "before", seen)
            await wait_for(lambda: len(gemini_sim.connections) >= 2, timeout=3)  # the gateway resumed
            gemini_sim.go_away_after = None
            second, _ = await turn(ws, "after", seen)
        await wait_for(lambda: gw.records)
    assert (first, second) == ("turn 1: before", "turn 2: after")  # the same session went on
    assert not any("goAway" in m or "setupComplete" in m for m in seen)
    resumed_setup = gemini_sim.setups[1]
    assert resumed_setup["model"] == MODEL and resumed_setup["sessionResumption"]["handle"].startswith("handle-")
    record = gw.records[-1]
    assert record.session["resumptions"] >= 1 and record.success


async def test_a_goaway_during_an_answer_waits_for_the_turn_to_complete_before_resuming(realtime_gateway, gemini_sim):
    gemini_sim.chunks, gemini_sim.chunk_delay = 10, 0.03  # the answer takes 0.3 s
    gemini_sim.go_away_after, gemini_sim.go_away_grace = 0.15, 1.0
    async with realtime_gateway(google=gemini_sim) as gw:
        async with websockets.connect(f"{gw.url}/google", additional_headers=gw.headers) as ws:
            await setup(ws, resumption=True)
            first, _ = await turn(ws, "a long answer")  # the goAway arrives in the middle of it
            await wait_for(lambda: len(gemini_sim.connections) >= 2, timeout=3)
            gemini_sim.go_away_after = None
            second, _ = await turn(ws, "next")
    assert (first, second) == ("turn 1: a long answer", "turn 2: next")


async def test_goaway_without_resumption_reaches_the_client_with_the_providers_close(realtime_gateway, gemini_sim):
    gemini_sim.go_away_after, gemini_sim.go_away_grace, gemini_sim.go_away_close = 0.1, 0.1, 1011
    async with realtime_gateway(google=gemini_sim) as gw:
        async with websockets.connect(f"{gw.url}/google", additional_headers=gw.headers) as ws:
            await setup(ws)
            assert "goAway" in await receive(ws)
            with pytest.raises(ConnectionClosed):
                await receive(ws)
            assert (ws.close_code, ws.close_reason) == (1011, "session time limit reached")
    assert len(gemini_sim.connections) == 1


async def test_a_wrong_key_gets_googles_1007_close(realtime_gateway, gemini_sim):
    async with realtime_gateway(google=gemini_sim, stored_keys=False) as gw:
        headers = {**gw.headers, "x-goog-api-key": "wrong"}
        async with websockets.connect(f"{gw.url}/google", additional_headers=headers) as ws:
            with pytest.raises(ConnectionClosed):
                await receive(ws)
            assert ws.close_code == 1007


# ---- field names: the JSON name or the proto name, as Google's parser reads them ----


@pytest.mark.parametrize(
    "message",
    [
        {"realtime_input": {"text": "hi"}},  # what the google-genai SDK sends
        {"client_content": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}], "turn_complete": True}},
        {"realtime_input": {"audio_stream_end": True}},
    ],
    ids=["realtime_input-text", "turn_complete", "audio_stream_end"],
)
def test_a_turn_ended_with_proto_field_names_holds_a_resumption_until_answered(message):
    state = GeminiResumption()
    state.client_message(1, json.dumps({"setup": {"model": MODEL, "session_resumption": {}}}).encode())
    state.upstream_message(b'{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}')
    state.client_message(1, json.dumps(message).encode())
    assert state.upstream_message(b'{"goAway":{"timeLeft":"1s"}}') == DROP  # the answer is still due
    assert json.loads(state.resumed_setup())["setup"]["sessionResumption"] == {"handle": "h1"}
