"""Deepgram live transcription through aigw, direct (`deepgram`) and as Workers AI's Deepgram
models (`workers-ai`, @cf/deepgram/nova-3): binary PCM in, JSON Results out, every auth form,
against the Deepgram simulator (aigw.testing, on `websockets`)."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from test_realtime_openai import wait_for
from websockets.exceptions import ConnectionClosed, InvalidStatus


FRAME = bytes(640)  # 20 ms of 16 kHz linear16 mono
LISTEN = "model=nova-3&encoding=linear16&sample_rate=16000"
CLOSE_STREAM = json.dumps({"type": "CloseStream"})


async def transcribe(ws, frames: int = 25) -> tuple[list[dict], dict]:
    """Send `frames` PCM frames then CloseStream; return the Results and the Metadata, after
    the provider's close reached the client."""
    for _ in range(frames):
        await ws.send(FRAME)
    await ws.send(CLOSE_STREAM)
    results, metadata = [], None
    with pytest.raises(ConnectionClosed):
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "Results":
                results.append(message)
            elif message["type"] == "Metadata":
                metadata = message
    assert ws.close_code == 1000
    return results, metadata


def assert_transcribed(results: list[dict], metadata: dict) -> None:
    [final] = results
    assert final["is_final"] is True and final["speech_final"] is True
    assert final["channel"]["alternatives"][0]["transcript"] == "hello from the deepgram simulator"
    assert final["metadata"]["request_id"] == metadata["request_id"]
    assert metadata["duration"] == pytest.approx(0.5)


async def test_deepgram_direct_with_the_clients_token_header(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}, stored_keys=False) as gw:
        headers = {**gw.headers, "authorization": f"Token {deepgram_sim.key}"}
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", additional_headers=headers) as ws:
            assert_transcribed(*await transcribe(ws))
    upgrade = deepgram_sim.connections[0]
    assert upgrade.path == "/v1/listen" and upgrade.query["model"] == "nova-3"
    assert upgrade.headers["authorization"] == f"Token {deepgram_sim.key}"


async def test_deepgram_direct_with_the_stored_key(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram?{LISTEN}", additional_headers=gw.headers) as ws:
            assert_transcribed(*await transcribe(ws))
    assert deepgram_sim.connections[0].path == "/v1/listen"  # `deepgram` alone is live transcription
    assert deepgram_sim.connections[0].headers["authorization"] == f"Token {deepgram_sim.key}"


@pytest.mark.parametrize("form", ["pair", "prefix"])
async def test_deepgram_browser_subprotocol_key_is_moved_to_the_header_and_never_echoed(realtime_gateway, deepgram_sim, form):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}, stored_keys=False) as gw:
        keyed = ["token", deepgram_sim.key] if form == "pair" else [f"token.{deepgram_sim.key}"]
        offered = [*keyed, f"cf-aig-authorization.{gw.token}"]
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", subprotocols=offered) as ws:
            # Deepgram itself selects `token` in the pair form; the key is never selected.
            assert ws.subprotocol == ("token" if form == "pair" else None)
            assert_transcribed(*await transcribe(ws))
    upgrade = deepgram_sim.connections[0]
    assert upgrade.subprotocols == []  # neither the key nor the gateway token went upstream
    assert upgrade.headers["authorization"] == f"Token {deepgram_sim.key}"
    assert "sec-websocket-protocol" not in upgrade.headers


async def test_deepgrams_refusal_reaches_the_client_as_its_handshake_status(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}, stored_keys=False) as gw:
        headers = {**gw.headers, "authorization": "Token wrong"}
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", additional_headers=headers)
        with pytest.raises(InvalidStatus) as bad_encoding:
            await websockets.connect(f"{gw.url}/deepgram/v1/listen?encoding=wav", additional_headers={**gw.headers, "authorization": f"Token {deepgram_sim.key}"})
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["err_code"] == "INVALID_AUTH"
    assert bad_encoding.value.response.status_code == 400
    assert json.loads(bad_encoding.value.response.body)["err_code"] == "UNSUPPORTED_ENCODING"


async def test_keepalive_and_interim_results_are_relayed(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}&interim_results=true", additional_headers=gw.headers) as ws:
            await ws.send(json.dumps({"type": "KeepAlive"}))
            results, _ = await transcribe(ws, frames=10)  # 200 ms: two words, both interim, then flushed
    assert [r["is_final"] for r in results] == [False, False, True]
    assert results[-1]["channel"]["alternatives"][0]["transcript"] == "hello from"
    assert deepgram_sim.messages[0] == json.dumps({"type": "KeepAlive"})


async def test_a_deepgram_session_is_logged_with_its_frames_bytes_and_close(realtime_gateway, deepgram_sim):
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", additional_headers=gw.headers) as ws:
            await transcribe(ws)
        await wait_for(lambda: gw.records)
    [record] = gw.records
    assert (record.provider, record.model, record.endpoint, record.status, record.success) == ("deepgram", "nova-3", "v1/listen", 101, True)
    session = record.session
    assert (session["frames_in"], session["bytes_in"]) == (26, 25 * 640 + len(CLOSE_STREAM))
    assert session["frames_out"] == 2  # one Results, the Metadata
    assert (session["upstream_close_code"], session["closed_by"]) == (1000, "upstream")
    assert deepgram_sim.audio_frames == 25


async def test_workers_ai_nova3_with_the_clients_cloudflare_token(realtime_gateway, workers_sim):
    async with realtime_gateway(sims={"workers-ai": workers_sim}, stored_keys=False) as gw:
        headers = {**gw.headers, "authorization": f"Bearer {workers_sim.key}"}
        async with websockets.connect(f"{gw.url}/workers-ai?model=@cf/deepgram/nova-3&encoding=linear16&sample_rate=16000", additional_headers=headers) as ws:
            assert_transcribed(*await transcribe(ws))
    upgrade = workers_sim.connections[0]
    assert upgrade.path.endswith("/ai/run/@cf/deepgram/nova-3") and "model" not in upgrade.query
    assert upgrade.headers["authorization"] == f"Bearer {workers_sim.key}"


async def test_workers_ai_nova3_with_the_stored_key_is_logged(realtime_gateway, workers_sim):
    async with realtime_gateway(sims={"workers-ai": workers_sim}) as gw:
        async with websockets.connect(f"{gw.url}/workers-ai?model=@cf/deepgram/nova-3&encoding=linear16&sample_rate=16000", additional_headers=gw.headers) as ws:
            assert_transcribed(*await transcribe(ws))
        await wait_for(lambda: gw.records)
    assert workers_sim.connections[0].headers["authorization"] == f"Bearer {workers_sim.key}"
    [record] = gw.records
    assert (record.provider, record.model) == ("workers-ai", "@cf/deepgram/nova-3")
    assert record.session["frames_in"] == 26 and record.session["upstream_close_code"] == 1000


async def test_workers_ai_refuses_a_wrong_token_with_its_v4_error(realtime_gateway, workers_sim):
    async with realtime_gateway(sims={"workers-ai": workers_sim}, stored_keys=False) as gw:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(f"{gw.url}/workers-ai?model=@cf/deepgram/nova-3", additional_headers={**gw.headers, "authorization": "Bearer nope"})
    assert refused.value.response.status_code == 401
    assert json.loads(refused.value.response.body)["errors"][0]["code"] == 10000


async def test_the_simulator_closes_a_silent_stream_with_net0001(deepgram_sim):
    deepgram_sim.net_timeout = 0.2
    async with websockets.connect(f"{deepgram_sim.url}/v1/listen?{LISTEN}", additional_headers={"authorization": f"Token {deepgram_sim.key}"}) as ws:
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert ws.close_code == 1011 and "net0001" in ws.close_reason


async def test_a_relay_bug_closes_that_session_with_1011_promptly_and_spares_the_next(realtime_gateway, deepgram_sim, monkeypatch, caplog):
    from aigw.api.realtime import RealtimeSession

    real = RealtimeSession._relay_from_client

    def broken_once(self, nbytes):
        monkeypatch.setattr(RealtimeSession, "_relay_from_client", real)  # only the first read fails
        raise RuntimeError("relay bug")

    monkeypatch.setattr(RealtimeSession, "_relay_from_client", broken_once)
    async with realtime_gateway(sims={"deepgram": deepgram_sim}) as gw:
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", additional_headers=gw.headers, close_timeout=5) as ws:
            await ws.send(FRAME)
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 2)  # the closing handshake completes, no timeout
        assert ws.close_code == 1011
        async with websockets.connect(f"{gw.url}/deepgram/v1/listen?{LISTEN}", additional_headers=gw.headers) as ws:
            assert_transcribed(*await transcribe(ws))
    assert "read_relay failed" in caplog.text
