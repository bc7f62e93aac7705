"""Deepgram streaming text to speech through aigw, direct (`deepgram/v1/speak`) and as Workers
AI's Aura model (`workers-ai?model=@cf/deepgram/aura-1`): JSON Speak/Flush/Clear/Close in,
Metadata/Flushed/Cleared JSON and binary audio out, against the Deepgram simulator."""

from __future__ import annotations

import json

import pytest
import websockets
from test_realtime_openai import wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus

from aigw.testing.simulators.realtime_deepgram_speak import audio_bytes

TEXT = "Hello from the gateway, spoken by the Deepgram simulator."
SPEAK = json.dumps({"type": "Speak", "text": TEXT})
FLUSH = json.dumps({"type": "Flush"})


async def until_flushed(ws) -> tuple[bytes, dict]:
    """The audio received up to the next Flushed, and that Flushed."""
    audio = bytearray()
    while True:
        message = await ws.recv()
        if isinstance(message, bytes):
            audio += message
            continue
        event = json.loads(message)
        if event["type"] == "Flushed":
            return bytes(audio), event
        raise AssertionError(f"unexpected {event}")


def expected_audio(text: str, **kw) -> bytes:
    return bytes(i % 251 for i in range(audio_bytes(text, **kw)))


async def test_deepgram_speak_turns_text_into_audio_with_the_stored_key(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        url = f"{gw.url}/deepgram/v1/speak?model=aura-2-thalia-en&encoding=linear16&sample_rate=24000"
        async with websockets.connect(url, additional_headers=gw.headers) as ws:
            metadata = json.loads(await ws.recv())
            await ws.send(SPEAK)
            await ws.send(FLUSH)
            audio, flushed = await until_flushed(ws)
    assert metadata["type"] == "Metadata" and metadata["model_name"] == "aura-2-thalia-en"
    assert audio == expected_audio(TEXT)  # every binary frame relayed, in order, unchanged
    assert flushed == {"type": "Flushed", "sequence_id": 0}
    upgrade = deepgram_sim.connections[0]
    assert upgrade.path == "/v1/speak" and upgrade.headers["authorization"] == f"Token {deepgram_sim.key}"


async def test_workers_ai_aura_speaks_through_the_gateway_and_closes_on_close(realtime_gateway, workers_sim):
    async with realtime_gateway(sims={"workers-ai": workers_sim}) as gw:
        async with websockets.connect(f"{gw.url}/workers-ai?model=@cf/deepgram/aura-1", additional_headers=gw.headers) as ws:
            metadata = json.loads(await ws.recv())
            await ws.send(SPEAK)
            await ws.send(json.dumps({"type": "Close"}))
            audio = bytearray()
            with pytest.raises(ConnectionClosed):
                while True:
                    audio += await ws.recv()
        assert ws.close_code == 1000
        await wait_for(lambda: gw.records)
    assert metadata["model_name"] == "aura-1"
    assert bytes(audio) == expected_audio(TEXT)
    upgrade = workers_sim.connections[0]
    assert upgrade.path.endswith("/ai/run/@cf/deepgram/aura-1") and "model" not in upgrade.query
    [record] = gw.records
    assert (record.provider, record.model, record.status) == ("workers-ai", "@cf/deepgram/aura-1", 101)
    session = record.session
    assert (session["frames_in"], session["bytes_in"]) == (2, len(SPEAK) + len(json.dumps({"type": "Close"})))
    assert session["bytes_out"] >= len(audio)  # the audio plus the Metadata
    assert (session["upstream_close_code"], session["closed_by"]) == (1000, "upstream")


async def test_clear_drops_the_text_not_yet_spoken(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram/v1/speak", additional_headers=gw.headers) as ws:
            await ws.recv()  # Metadata
            await ws.send(SPEAK)
            await ws.send(json.dumps({"type": "Clear"}))
            cleared = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "Speak", "text": "Hi."}))
            await ws.send(FLUSH)
            audio, flushed = await until_flushed(ws)
    assert cleared["type"] == "Cleared"
    assert audio == expected_audio("Hi.")  # only what was said after the Clear
    assert flushed["sequence_id"] == 0


async def test_a_speak_warning_is_relayed_and_the_stream_goes_on(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram/v1/speak", additional_headers=gw.headers) as ws:
            await ws.recv()  # Metadata
            await ws.send(json.dumps({"type": "Speak", "text": "x" * 2001}))
            warning = json.loads(await ws.recv())
            await ws.send(json.dumps({"type": "Speak", "text": "ok"}))
            await ws.send(FLUSH)
            audio, _ = await until_flushed(ws)
    assert warning["type"] == "Warning" and warning["code"] == "TEXT_TOO_LONG"
    assert audio == expected_audio("ok")


async def test_deepgram_refuses_an_encoding_it_cannot_speak(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/deepgram/v1/speak?encoding=wav", additional_headers=gw.headers)
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["err_code"] == "UNSUPPORTED_ENCODING"
