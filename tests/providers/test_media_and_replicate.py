"""replicate, and the voice and image providers (cartesia, elevenlabs, deepgram, fal, ideogram):
requests built as each provider's docs say, binary bodies passed through unchanged, sent to
their simulators with a plain HTTP client, and JSON-answering calls through the gateway."""

import aiohttp
import orjson
import pytest
import yarl
from provider_helpers import ask

from aigw.builtins.providers.cartesia import CartesiaProvider
from aigw.builtins.providers.deepgram import DeepgramProvider
from aigw.builtins.providers.elevenlabs import ElevenLabsProvider
from aigw.builtins.providers.fal import FalProvider
from aigw.builtins.providers.ideogram import IdeogramProvider
from aigw.builtins.providers.replicate import ReplicateProvider
from aigw.errors import BadRequest
from aigw.testing.simulators.media import fake_audio
from aigw.types import Call, Framing, Usage


async def send(request):
    """Send an UpstreamRequest as the gateway would (URL bytes untouched)."""
    async with aiohttp.ClientSession(auto_decompress=False) as http:
        url = yarl.URL(request.url, encoded=True)
        async with http.request(request.method, url, headers=request.headers, data=request.body) as resp:
            return resp.status, resp.headers.get("content-type", ""), await resp.read()


def provider_for(cls, sim, **options):
    return cls(base_url=sim.base_url(), **options)


# ---- replicate ----


def test_replicate_paths_with_and_without_v1_and_usage_from_metrics():
    provider = ReplicateProvider()
    for endpoint in ("predictions", "v1/predictions"):
        assert provider.build_request(Call("replicate", endpoint, b"{}"), "r8").url == "https://api.replicate.com/v1/predictions"
    assert provider.usage_from_body(b'{"status":"succeeded","metrics":{"input_token_count":3,"output_token_count":9}}') == Usage(3, 9)
    assert provider.usage_from_body(b'{"status":"succeeded","metrics":{"predict_time":1.2}}') is None


async def test_replicate_create_poll_until_done_and_cancel(sims):
    sim = sims["replicate"]
    provider = provider_for(ReplicateProvider, sim)
    body = orjson.dumps({"input": {"prompt": "one two"}})
    status, _, created = await send(provider.build_request(Call("replicate", "models/meta/llama/predictions", body), sim.key))
    prediction = orjson.loads(created)
    assert status == 201 and prediction["status"] == "starting"
    states = []
    while not states or states[-1] not in ("succeeded", "failed", "canceled"):
        _, _, polled = await send(provider.build_request(Call("replicate", f"predictions/{prediction['id']}", b"", method="GET"), sim.key))
        states.append(orjson.loads(polled)["status"])
    assert states == ["processing", "succeeded"]
    assert provider.usage_from_body(polled) == Usage(2, 2)
    _, _, second = await send(provider.build_request(Call("replicate", "predictions", body), sim.key))
    _, _, canceled = await send(provider.build_request(Call("replicate", f"predictions/{orjson.loads(second)['id']}/cancel", b""), sim.key))
    assert orjson.loads(canceled)["status"] == "canceled"


async def test_replicate_sync_mode_through_the_gateway_reports_usage(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "replicate", "models/meta/llama/predictions", {"input": {"prompt": "a b c"}}, headers={"prefer": "wait"})
    assert msg["metadata"]["status"] == 201 and msg["response"]["status"] == "succeeded"
    assert "".join(msg["response"]["output"]) == "a b c"
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


def test_the_replicate_client_reads_the_simulators_stream(sims):
    replicate = pytest.importorskip("replicate")
    sim = sims["replicate"]
    client = replicate.Client(api_token=sim.key, base_url=sim.url)
    text = "".join(str(event) for event in client.stream("meta/llama", input={"prompt": "x y z"}))
    assert text == "x y z"


# ---- cartesia ----


def test_cartesia_drops_cloudflares_v1_and_defaults_its_version():
    request = CartesiaProvider().build_request(Call("cartesia", "v1/tts/bytes", b"{}"), "sk_car")
    assert request.url == "https://api.cartesia.ai/tts/bytes"
    assert ("x-api-key", "sk_car") in request.headers and ("cartesia-version", "2024-06-10") in request.headers


async def test_cartesia_answers_audio_bytes_framed_raw(sims):
    sim = sims["cartesia"]
    body = orjson.dumps({"model_id": "sonic-2", "transcript": "hello", "voice": {"mode": "id", "id": "v"}, "output_format": {"container": "wav", "encoding": "pcm_s16le", "sample_rate": 16000}})
    status, content_type, audio = await send(provider_for(CartesiaProvider, sim).build_request(Call("cartesia", "tts/bytes", body), sim.key))
    assert (status, content_type, audio) == (200, "audio/wav", fake_audio("hello"))
    assert CartesiaProvider().framing(Call("cartesia", "tts/bytes", b""), 200, content_type) is Framing.RAW


# ---- elevenlabs ----


async def test_elevenlabs_streams_audio_in_pieces(sims):
    sim = sims["elevenlabs"]
    request = provider_for(ElevenLabsProvider, sim).build_request(Call("elevenlabs", "v1/text-to-speech/voice1/stream", orjson.dumps({"text": "hi there", "model_id": "eleven_flash_v2_5"}), query="output_format=mp3_44100_128"), sim.key)
    assert ("xi-api-key", sim.key) in request.headers and request.url.endswith("/v1/text-to-speech/voice1/stream?output_format=mp3_44100_128")
    status, content_type, audio = await send(request)
    assert (status, content_type, audio) == (200, "audio/mpeg", fake_audio("hi there", "mp3"))


# ---- deepgram ----


async def test_deepgram_listen_takes_the_binary_audio_body_unchanged(sims):
    sim = sims["deepgram"]
    audio = b"SIMTEXT:hello world" + bytes(range(256))
    call = Call("deepgram", "v1/listen", audio, {"content-type": "audio/wav"}, query="model=nova-3&smart_format=true")
    request = provider_for(DeepgramProvider, sim).build_request(call, sim.key)
    assert ("authorization", f"Token {sim.key}") in request.headers and ("content-type", "audio/wav") in request.headers
    status, _, body = await send(request)
    assert status == 200 and sim.last_request.body == audio
    assert orjson.loads(body)["results"]["channels"][0]["alternatives"][0]["transcript"].startswith("hello world")


async def test_deepgram_speak_through_the_gateway_is_answered(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "deepgram", "v1/listen?model=nova-3", {"url": "https://example.com/a.wav"})
    assert msg["metadata"]["status"] == 200
    assert msg["response"]["results"]["channels"][0]["alternatives"][0]["transcript"] == "audio from url"


# ---- fal ----


def test_fal_runs_at_the_model_path_with_a_key_scheme():
    request = FalProvider().build_request(Call("fal", "fal-ai/fast-sdxl", b"{}"), "fal-key")
    assert request.url == "https://fal.run/fal-ai/fast-sdxl" and ("authorization", "Key fal-key") in request.headers


def test_fal_target_url_redirects_to_fal_hosts_only_and_is_not_forwarded():
    provider = FalProvider()
    target = {"x-fal-target-url": "https://queue.fal.run/fal-ai/fast-sdxl"}
    request = provider.build_request(Call("fal", "fal-ai/fast-sdxl", b"{}", target), "k")
    assert request.url == "https://queue.fal.run/fal-ai/fast-sdxl"
    assert "x-fal-target-url" not in dict(request.headers)
    for bad in ("http://queue.fal.run/x", "https://evil.example/x", "https://fal.run.evil.example/x", "https://user@queue.fal.run/x"):
        with pytest.raises(BadRequest):
            provider.build_request(Call("fal", "x", b"{}", {"x-fal-target-url": bad}), "k")


async def test_fal_queue_submit_then_poll_status_then_result(sims):
    sim = sims["fal"]
    provider = provider_for(FalProvider, sim)
    queue = {"x-fal-target-url": f"{sim.url}/queue/fal-ai/fast-sdxl"}
    _, _, submitted = await send(provider.build_request(Call("fal", "fal-ai/fast-sdxl", b'{"prompt":"a cat"}', queue), sim.key))
    job = orjson.loads(submitted)
    statuses = []
    while not statuses or statuses[-1] != "COMPLETED":
        poll = Call("fal", "status", b"", {"x-fal-target-url": job["status_url"]}, method="GET")
        statuses.append(orjson.loads((await send(provider.build_request(poll, sim.key)))[2])["status"])
    result = Call("fal", "result", b"", {"x-fal-target-url": job["response_url"]}, method="GET")
    _, _, output = await send(provider.build_request(result, sim.key))
    assert statuses == ["IN_PROGRESS", "COMPLETED"] and orjson.loads(output)["prompt"] == "a cat"


async def test_fal_sync_run_through_the_gateway(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "fal", "fal-ai/fast-sdxl", {"prompt": "a dog"})
    assert msg["metadata"]["status"] == 200 and msg["response"]["images"][0]["content_type"] == "image/png"


# ---- ideogram ----


async def test_ideogram_multipart_form_passes_through_byte_for_byte(sims):
    sim = sims["ideogram"]
    boundary = "aigwsimboundary"
    fields = {"prompt": "a lighthouse", "rendering_speed": "TURBO"}
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items())
    body += f"--{boundary}--\r\n".encode()
    call = Call("ideogram", "v1/ideogram-v3/generate", body, {"content-type": f"multipart/form-data; boundary={boundary}"})
    request = provider_for(IdeogramProvider, sim).build_request(call, sim.key)
    assert ("api-key", sim.key) in request.headers
    status, _, answer = await send(request)
    assert status == 200 and sim.last_request.body == body
    assert orjson.loads(answer)["data"][0]["prompt"] == "a lighthouse"
