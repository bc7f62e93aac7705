"""Where each provider's realtime session goes and how its key travels (RealtimeEndpoint)."""

from __future__ import annotations

import pytest

from aigw.builtins.providers.google import GoogleAIStudioProvider
from aigw.builtins.providers.openai import OpenAIProvider, compatible_provider
from aigw.builtins.providers.realtime import RealtimeRequest
from aigw.builtins.providers.workers_ai import WorkersAIProvider
from aigw.errors import BadRequest

GEMINI = "wss://generativelanguage.googleapis.com/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def test_openai_realtime_url_keeps_the_model_query_and_drops_gateway_headers():
    request = RealtimeRequest("", "model=gpt-realtime", {
        "authorization": "Bearer sk-client", "cf-aig-authorization": "Bearer tok", "cf-aig-metadata": "{}",
        "origin": "https://app.example", "cookie": "s=1", "openai-beta": "realtime=v1",
    }, ["realtime"])
    target = OpenAIProvider().realtime_target(request, None)
    assert target.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert target.headers == [("authorization", "Bearer sk-client"), ("openai-beta", "realtime=v1")]
    assert target.model == "gpt-realtime"


def test_openai_gpt_live_path_and_a_leading_v1_are_accepted():
    provider = OpenAIProvider()
    assert provider.realtime_target(RealtimeRequest("v1/live/sessions"), "k").url == "wss://api.openai.com/v1/live/sessions"
    assert provider.realtime_target(RealtimeRequest("realtime", "model=m"), "k").url == "wss://api.openai.com/v1/realtime?model=m"


def test_a_stored_key_replaces_nothing_the_client_sent_and_key_subprotocols_never_go_upstream():
    request = RealtimeRequest("", "model=m", {}, ["realtime", "openai-insecure-api-key.sk-browser", "cf-aig-authorization.tok"])
    provider = OpenAIProvider()
    assert provider.realtime_has_client_auth(request)
    target = provider.realtime_target(request, None)
    assert target.subprotocols == ["realtime"]
    assert ("authorization", "Bearer sk-browser") in target.headers


def test_the_stored_key_goes_in_the_providers_auth_header():
    target = GoogleAIStudioProvider().realtime_target(RealtimeRequest(), "stored")
    assert target.url == GEMINI
    assert target.headers == [("x-goog-api-key", "stored")]


@pytest.mark.parametrize("query", ["api_key=secret", "key=secret"])
def test_a_google_key_in_the_query_leaves_the_url(query):
    provider = GoogleAIStudioProvider()
    request = RealtimeRequest("", query + "&alt=x")
    assert provider.realtime_has_client_auth(request)
    target = provider.realtime_target(request, None)
    assert target.url == GEMINI + "?alt=x" and "secret" not in target.url
    assert target.headers == [("x-goog-api-key", "secret")]


def test_realtime_url_option_overrides_the_websocket_base():
    provider = OpenAIProvider(base_url="https://proxy.example/v1", realtime_url="ws://127.0.0.1:9/v1")
    assert provider.realtime_target(RealtimeRequest("", "model=m"), "k").url == "ws://127.0.0.1:9/v1/realtime?model=m"
    assert OpenAIProvider(base_url="http://local:8/v1").realtime_base() == "ws://local:8/v1"


def test_custom_and_compatible_providers_have_realtime_only_with_a_realtime_url():
    assert not compatible_provider("groq").realtime_available()
    assert compatible_provider("custom-rt", "http://h/v1", realtime_url="ws://h/v1").realtime_available()


def test_workers_ai_moves_the_model_from_the_query_into_the_run_path():
    provider = WorkersAIProvider(account_id="acc")
    request = RealtimeRequest("", "model=@cf/deepgram/nova-3&encoding=linear16&sample_rate=16000")
    target = provider.realtime_target(request, "cf-key")
    assert target.url == "wss://api.cloudflare.com/client/v4/accounts/acc/ai/run/@cf/deepgram/nova-3?encoding=linear16&sample_rate=16000"
    assert target.headers == [("authorization", "Bearer cf-key")]
    assert target.model == "@cf/deepgram/nova-3"


def test_a_realtime_path_that_leaves_the_base_is_refused():
    with pytest.raises(BadRequest):
        OpenAIProvider().realtime_target(RealtimeRequest("../admin"), "k")


def test_voice_and_media_providers_default_to_their_real_websocket_endpoints():
    from aigw.builtins.providers.cartesia import CartesiaProvider
    from aigw.builtins.providers.deepgram import DeepgramProvider
    from aigw.builtins.providers.elevenlabs import ElevenLabsProvider
    from aigw.builtins.providers.fal import FalProvider

    def url(provider, rest="", query=""):
        return provider.realtime_target(RealtimeRequest(rest, query), "k").url

    assert url(CartesiaProvider(), "", "cartesia_version=2024-06-10") == "wss://api.cartesia.ai/tts/websocket?cartesia_version=2024-06-10"
    assert url(CartesiaProvider(), "v1/stt/websocket") == "wss://api.cartesia.ai/stt/websocket"
    assert url(ElevenLabsProvider(), "", "agent_id=a") == "wss://api.elevenlabs.io/v1/convai/conversation?agent_id=a"
    assert url(ElevenLabsProvider(), "v1/text-to-speech/v/stream-input") == "wss://api.elevenlabs.io/v1/text-to-speech/v/stream-input"
    assert url(FalProvider(), "fal-ai/fast-lcm-diffusion") == "wss://ws.fal.run/fal-ai/fast-lcm-diffusion"
    assert url(FalProvider(base_url="http://127.0.0.1:9"), "fal-ai/x") == "ws://127.0.0.1:9/fal-ai/x"
    assert url(DeepgramProvider(), "", "model=nova-3") == "wss://api.deepgram.com/v1/listen?model=nova-3"
    assert url(DeepgramProvider(), "v1/speak", "model=aura-2") == "wss://api.deepgram.com/v1/speak?model=aura-2"


@pytest.mark.parametrize("provider, header, value", [
    ("cartesia", "x-api-key", "K"), ("elevenlabs", "xi-api-key", "K"), ("fal", "authorization", "Key K"),
    ("deepgram", "authorization", "Token K"),
])
def test_each_providers_stored_key_goes_in_its_auth_header(provider, header, value):
    from aigw.builtins.providers import cartesia, deepgram, elevenlabs, fal

    cls = {"cartesia": cartesia.CartesiaProvider, "elevenlabs": elevenlabs.ElevenLabsProvider,
           "fal": fal.FalProvider, "deepgram": deepgram.DeepgramProvider}[provider]
    target = cls().realtime_target(RealtimeRequest("x/y"), "K")
    assert (header, value) in target.headers


def test_the_clients_auth_header_wins_over_a_key_subprotocol_which_still_never_goes_upstream():
    from aigw.builtins.providers.deepgram import DeepgramProvider

    request = RealtimeRequest("", "", {"authorization": "Token from-header"}, ["token", "from-subprotocol"])
    target = DeepgramProvider().realtime_target(request, None)
    assert target.headers == [("authorization", "Token from-header")]
    assert target.subprotocols == [] and target.selectable() == ["token"]


def test_deepgram_bearer_pair_form_sends_a_bearer_header():
    from aigw.builtins.providers.deepgram import DeepgramProvider

    target = DeepgramProvider().realtime_target(RealtimeRequest("", "", {}, ["bearer", "jwt-1"]), None)
    assert target.headers == [("authorization", "Bearer jwt-1")] and target.selectable() == ["bearer"]
