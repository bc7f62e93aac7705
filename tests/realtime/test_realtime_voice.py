"""Cartesia, ElevenLabs and Fal realtime sessions through aigw: each provider's auth forms (header,
query, key-bearing subprotocol, the stored key), the key never echoed nor sent upstream in the
client's form, and the session's log row; against the small simulators in aigw.testing."""

from __future__ import annotations

import base64
import json

import pytest
import websockets
from test_realtime_openai import wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus

from aigw.testing.simulators.realtime_media import CartesiaTTSSimulator, ElevenLabsStreamInputSimulator, FalWebSocketSimulator

VOICE = "voice-sim"
STREAM_INPUT = f"elevenlabs/v1/text-to-speech/{VOICE}/stream-input?model_id=eleven_flash_v2_5&output_format=pcm_16000"


@pytest.fixture
async def cartesia_sim():
    async with CartesiaTTSSimulator() as sim:
        yield sim


@pytest.fixture
async def elevenlabs_sim():
    async with ElevenLabsStreamInputSimulator() as sim:
        yield sim


@pytest.fixture
async def fal_sim():
    async with FalWebSocketSimulator() as sim:
        yield sim


def never_leaked(sim, key: str, ws) -> None:
    """The client's key reached the provider only in its auth header: not in a subprotocol
    offered upstream, not in the upstream URL, and it was not selected for the client."""
    upgrade = sim.connections[0]
    assert not any(key in p for p in upgrade.subprotocols)
    assert not any(key in v for v in upgrade.query.values())
    assert ws.subprotocol is None or key not in ws.subprotocol


# -- Cartesia ------------------------------------------------------------------------------------

async def speak_cartesia(ws, transcript: str = "hello through aigw") -> tuple[bytes, dict]:
    await ws.send(json.dumps({
        "model_id": "sonic-2", "transcript": transcript, "voice": {"mode": "id", "id": VOICE}, "context_id": "ctx-1",
        "output_format": {"container": "raw", "encoding": "pcm_s16le", "sample_rate": 16000}, "continue": False,
    }))
    audio = b""
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "chunk":
            audio += base64.b64decode(message["data"])
        else:
            return audio, message


@pytest.mark.parametrize("form", ["x-api-key header", "api_key query", "stored key"])
async def test_cartesia_tts_session_with_each_auth_form(realtime_gateway, cartesia_sim, form):
    key = cartesia_sim.key
    async with realtime_gateway(sims={"cartesia": cartesia_sim}, stored_keys=form == "stored key") as gw:
        headers = {**gw.headers, **({"x-api-key": key} if form == "x-api-key header" else {})}
        query = "cartesia_version=2024-06-10" + (f"&api_key={key}" if form == "api_key query" else "")
        async with websockets.connect(f"{gw.url}/cartesia?{query}", additional_headers=headers) as ws:
            audio, done = await speak_cartesia(ws)
            never_leaked(cartesia_sim, key, ws)
    assert len(audio) == 3 * 6400 and done == {"type": "done", "done": True, "status_code": 206, "context_id": "ctx-1"}
    upgrade = cartesia_sim.connections[0]
    assert upgrade.path == "/tts/websocket" and upgrade.headers["x-api-key"] == key
    assert upgrade.query == {"cartesia_version": "2024-06-10"}


async def test_cartesia_gets_a_version_header_when_the_client_names_none(realtime_gateway, cartesia_sim):
    async with realtime_gateway(sims={"cartesia": cartesia_sim}) as gw:
        async with websockets.connect(f"{gw.url}/cartesia/v1/tts/websocket", additional_headers=gw.headers) as ws:
            await speak_cartesia(ws, "one")
    assert cartesia_sim.connections[0].headers["cartesia-version"] == "2024-06-10"


async def test_cartesia_browser_access_token_stays_in_the_url_and_no_stored_key_is_used(realtime_gateway, cartesia_sim):
    async with realtime_gateway(sims={"cartesia": cartesia_sim}) as gw:
        url = f"{gw.url}/cartesia?cartesia_version=2024-06-10&access_token={cartesia_sim.access_token}"
        async with websockets.connect(url, subprotocols=[f"cf-aig-authorization.{gw.token}"]) as ws:
            await speak_cartesia(ws, "one")
    upgrade = cartesia_sim.connections[0]
    assert upgrade.query["access_token"] == cartesia_sim.access_token and "x-api-key" not in upgrade.headers


async def test_cartesia_session_log_row(realtime_gateway, cartesia_sim):
    async with realtime_gateway(sims={"cartesia": cartesia_sim}) as gw:
        async with websockets.connect(f"{gw.url}/cartesia?cartesia_version=2024-06-10", additional_headers=gw.headers) as ws:
            await speak_cartesia(ws, "two words")
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.provider, record.endpoint, record.success) == ("cartesia", None, True)
    session = record.session
    assert (session["frames_in"], session["frames_out"]) == (1, 3)  # request; two chunks and done
    assert session["bytes_out"] > 2 * 6400 * 4 // 3  # base64 audio
    assert (session["client_close_code"], session["closed_by"]) == (1000, "client")


# -- ElevenLabs ----------------------------------------------------------------------------------

async def speak_elevenlabs(ws, first: dict | None = None) -> tuple[bytes, int]:
    """The stream-input exchange: open, two pieces of text, end of input; the audio and the
    number of audio messages, after the provider's close."""
    await ws.send(json.dumps({"text": " ", "voice_settings": {"stability": 0.5}, **(first or {})}))
    await ws.send(json.dumps({"text": "hello "}))
    await ws.send(json.dumps({"text": "through aigw "}))
    await ws.send(json.dumps({"text": ""}))
    audio, messages, final = b"", 0, False
    with pytest.raises(ConnectionClosed):
        while True:
            message = json.loads(await ws.recv())
            if message.get("audio"):
                audio += base64.b64decode(message["audio"])
                messages += 1
            final = final or message.get("isFinal") is True
    assert final and ws.close_code == 1000
    return audio, messages


@pytest.mark.parametrize("form", ["xi-api-key header", "xi-api-key subprotocol", "stored key"])
async def test_elevenlabs_stream_input_with_each_auth_form(realtime_gateway, elevenlabs_sim, form):
    key = elevenlabs_sim.key
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}, stored_keys=form == "stored key") as gw:
        if form == "xi-api-key subprotocol":  # a browser: gateway token and key both in subprotocols
            connecting = websockets.connect(f"{gw.url}/{STREAM_INPUT}", subprotocols=[f"xi-api-key.{key}", f"cf-aig-authorization.{gw.token}"])
        else:
            headers = {**gw.headers, **({"xi-api-key": key} if form == "xi-api-key header" else {})}
            connecting = websockets.connect(f"{gw.url}/{STREAM_INPUT}", additional_headers=headers)
        async with connecting as ws:
            audio, messages = await speak_elevenlabs(ws)
            never_leaked(elevenlabs_sim, key, ws)
    assert messages == 3 and len(audio) == 3 * 6400
    upgrade = elevenlabs_sim.connections[0]
    assert upgrade.path == f"/v1/text-to-speech/{VOICE}/stream-input" and upgrade.headers["xi-api-key"] == key
    assert upgrade.subprotocols == []


async def test_elevenlabs_key_inside_the_first_message_opens_a_keyless_session(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}, stored_keys=False) as gw:
        async with websockets.connect(f"{gw.url}/{STREAM_INPUT}", additional_headers=gw.headers) as ws:
            audio, messages = await speak_elevenlabs(ws, {"xi_api_key": elevenlabs_sim.key})
    assert messages == 3 and len(audio) == 3 * 6400  # ElevenLabs read the key from the message
    assert "xi-api-key" not in elevenlabs_sim.connections[0].headers


async def test_elevenlabs_in_message_key_that_is_wrong_gets_elevenlabs_close(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}, stored_keys=False) as gw:
        async with websockets.connect(f"{gw.url}/{STREAM_INPUT}", additional_headers=gw.headers) as ws:
            await ws.send(json.dumps({"text": " ", "xi_api_key": "wrong"}))
            with pytest.raises(ConnectionClosed):
                await ws.recv()
    assert (ws.close_code, ws.close_reason) == (1008, "Invalid API key")


async def test_elevenlabs_conversation_without_any_key_is_refused_before_connecting(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}, stored_keys=False) as gw:
        with pytest.raises(InvalidStatus) as refused:  # only stream-input reads a key from a message
            await websockets.connect(f"{gw.url}/elevenlabs?agent_id=agent-1", additional_headers=gw.headers)
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["errors"][0]["code"] == 2011
    assert elevenlabs_sim.connections == []


async def test_elevenlabs_default_path_is_conversational_ai(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}) as gw:
        with pytest.raises(InvalidStatus) as refused:  # the simulator serves stream-input only
            await websockets.connect(f"{gw.url}/elevenlabs?agent_id=agent-1", additional_headers=gw.headers)
    assert refused.value.response.status_code == 404
    assert elevenlabs_sim.connections[0].path == "/v1/convai/conversation"
    assert elevenlabs_sim.connections[0].query == {"agent_id": "agent-1"}


async def test_elevenlabs_wrong_key_is_refused_with_its_401(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}, stored_keys=False) as gw:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/{STREAM_INPUT}", additional_headers={**gw.headers, "xi-api-key": "wrong"})
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["detail"]["status"] == "invalid_api_key"


async def test_elevenlabs_session_log_row(realtime_gateway, elevenlabs_sim):
    async with realtime_gateway(sims={"elevenlabs": elevenlabs_sim}) as gw:
        async with websockets.connect(f"{gw.url}/{STREAM_INPUT}", additional_headers=gw.headers) as ws:
            await speak_elevenlabs(ws)
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.provider, record.model, record.success) == ("elevenlabs", "eleven_flash_v2_5", True)
    session = record.session
    assert (session["frames_in"], session["frames_out"]) == (4, 4)  # 3 audio messages and isFinal
    assert (session["upstream_close_code"], session["closed_by"]) == (1000, "upstream")


# -- Fal -----------------------------------------------------------------------------------------

async def run_fal(ws, prompt: str = "a cat flying an aeroplane") -> tuple[dict, dict, dict]:
    await ws.send(json.dumps({"prompt": prompt}))
    start = json.loads(await ws.recv())
    result = json.loads(await ws.recv())
    return start, result, json.loads(await ws.recv())


@pytest.mark.parametrize("form", ["authorization header", "fal-api-key subprotocol", "stored key"])
async def test_fal_http_over_websocket_with_each_auth_form(realtime_gateway, fal_sim, form):
    key = fal_sim.key
    async with realtime_gateway(sims={"fal": fal_sim}, stored_keys=form == "stored key") as gw:
        url = f"{gw.url}/fal/fal-ai/fast-lcm-diffusion"
        if form == "fal-api-key subprotocol":
            connecting = websockets.connect(url, subprotocols=[f"fal-api-key.{key}", f"cf-aig-authorization.{gw.token}"])
        else:
            headers = {**gw.headers, **({"authorization": f"Key {key}"} if form == "authorization header" else {})}
            connecting = websockets.connect(url, additional_headers=headers)
        async with connecting as ws:
            start, result, end = await run_fal(ws)
            never_leaked(fal_sim, key, ws)
    assert (start["type"], start["status"], end["type"]) == ("start", 200, "end")
    assert start["request_id"] == end["request_id"] and result["prompt"] == "a cat flying an aeroplane"
    upgrade = fal_sim.connections[0]
    assert upgrade.path == "/fal-ai/fast-lcm-diffusion" and upgrade.headers["authorization"] == f"Key {key}"
    assert upgrade.subprotocols == []


async def test_fal_session_log_row_names_the_model_path(realtime_gateway, fal_sim):
    async with realtime_gateway(sims={"fal": fal_sim}) as gw:
        async with websockets.connect(f"{gw.url}/fal/fal-ai/fast-lcm-diffusion", additional_headers=gw.headers) as ws:
            await run_fal(ws)
            await run_fal(ws, "again")
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.provider, record.model, record.endpoint) == ("fal", "fal-ai/fast-lcm-diffusion", "fal-ai/fast-lcm-diffusion")
    assert (record.session["frames_in"], record.session["frames_out"]) == (2, 6)


async def test_no_credentials_at_all_is_refused_before_connecting(realtime_gateway, fal_sim):
    async with realtime_gateway(sims={"fal": fal_sim}, stored_keys=False) as gw:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/fal/fal-ai/fast-lcm-diffusion", additional_headers=gw.headers)
    assert refused.value.response.status_code == 400
    assert json.loads(refused.value.response.body)["errors"][0]["code"] == 2011
    assert fal_sim.connections == []
