"""Replicate's SDK and the voice and image providers through the gateway's provider routes:
a prediction created and polled (GET) through the route, a binary audio body passed through
to Deepgram and logged by size and content type, ElevenLabs audio streamed through as it is
made, an Ideogram multipart form byte for byte."""

import time

import aiohttp
import orjson
import pytest
from sdk_helpers import provider_url

from aigw.testing.simulators.media import fake_audio

# ---- replicate ----


async def test_replicate_sdk_creates_and_polls_a_prediction_through_the_route(gateway, sims):
    replicate = pytest.importorskip("replicate")
    sim = sims["replicate"]
    async with gateway() as gw:
        # No api_token: the gateway's stored key authenticates (the SDK then sends no Authorization).
        client = replicate.Client(base_url=provider_url(gw, "replicate"), headers=dict(gw.headers))
        prediction = await client.models.predictions.async_create("meta/llama", input={"prompt": "one two"})
        assert prediction.status == "starting"
        states = []
        while prediction.status not in ("succeeded", "failed", "canceled"):
            await prediction.async_reload()
            states.append(prediction.status)
    assert states == ["processing", "succeeded"] and "".join(prediction.output) == "one two"
    assert sim.last_request.method == "GET" and sim.last_request.headers["Authorization"] == f"Bearer {sim.key}"
    assert [(r.endpoint.split("/")[-1], r.status) for r in gw.records][0] == ("predictions", 201)
    assert (gw.records[-1].tokens_in, gw.records[-1].tokens_out) == (2, 2)  # the finished prediction's metrics


# ---- deepgram ----


AUDIO = b"SIMTEXT:hello world" + bytes(range(256)) * 40


async def listen(gw):
    """POST the binary AUDIO to Deepgram's `listen` through the route; the JSON answer."""
    async with aiohttp.ClientSession() as http:
        url = provider_url(gw, "deepgram", "v1", "listen") + "?model=nova-3&smart_format=true"
        async with http.post(url, data=AUDIO, headers={**gw.headers, "content-type": "audio/wav"}) as resp:
            assert resp.status == 200
            return await resp.json()


async def test_deepgram_listen_passes_a_binary_audio_body_through_unchanged(gateway, sims):
    sim = sims["deepgram"]
    async with gateway() as gw:
        answer = await listen(gw)
    assert answer["results"]["channels"][0]["alternatives"][0]["transcript"].startswith("hello world")
    assert sim.last_request.body == AUDIO
    assert sim.last_request.headers["content-type"] == "audio/wav"
    assert sim.last_request.headers["Authorization"] == f"Token {sim.key}"


async def test_deepgram_audio_is_logged_by_size_and_content_type_not_content(gateway, sims):
    async with gateway() as gw:
        await listen(gw)
    (record,) = gw.records
    assert record.request_content_type == "audio/wav"
    assert record.request_body is None


# ---- elevenlabs ----


async def test_elevenlabs_audio_streams_through_before_it_ends(gateway, sims):
    sim = sims["elevenlabs"]
    sim.chunks, sim.chunk_delay = 4, 0.15
    text = "a fairly long sentence to speak"
    arrivals: list[tuple[float, int]] = []
    async with gateway() as gw, aiohttp.ClientSession() as http:
        url = provider_url(gw, "elevenlabs", "v1", "text-to-speech", "voice1", "stream") + "?output_format=mp3_44100_128"
        started = time.monotonic()
        async with http.post(url, json={"text": text, "model_id": "eleven_flash_v2_5"}, headers=gw.headers) as resp:
            assert resp.status == 200 and resp.headers["content-type"] == "audio/mpeg"
            body = b""
            async for piece in resp.content.iter_any():
                arrivals.append((time.monotonic() - started, len(piece)))
                body += piece
    assert body == fake_audio(text, "mp3")
    first, last = arrivals[0][0], arrivals[-1][0]
    assert last - first > 0.25, arrivals  # the first audio came while the rest was still being made
    (record,) = gw.records
    assert record.success and record.response_content_type == "audio/mpeg"


# ---- ideogram ----


async def test_ideogram_multipart_form_passes_through_the_route_byte_for_byte(gateway, sims):
    sim = sims["ideogram"]
    form = aiohttp.FormData()
    form.add_field("prompt", "a lighthouse")
    form.add_field("rendering_speed", "TURBO")
    form.add_field("image", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), filename="ref.png", content_type="image/png")
    payload = form()
    sent = bytearray()

    class Capture:
        async def write(self, data):
            sent.extend(data)

    await payload.write(Capture())
    async with gateway() as gw, aiohttp.ClientSession() as http:
        url = provider_url(gw, "ideogram", "v1", "ideogram-v3", "generate")
        async with http.post(url, data=bytes(sent), headers={**gw.headers, "content-type": payload.content_type}) as resp:
            assert resp.status == 200
            answer = orjson.loads(await resp.read())
    assert answer["data"][0]["prompt"] == "a lighthouse"
    assert sim.last_request.body == bytes(sent)
    assert sim.last_request.headers["api-key"] == sim.key
