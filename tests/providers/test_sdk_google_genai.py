"""The official `google-genai` SDK pointed at the gateway's provider routes: `genai.Client` with
`http_options.base_url` = `…/v1/{account}/{gateway}/google-ai-studio` (API key) or
`…/google-vertex-ai` (Vertex: project, location and OAuth credentials). The SDK builds the
provider's own paths under that base (`{api_version}/models/{model}:generateContent`, and for
Vertex `v1beta1/projects/{p}/locations/{l}/publishers/google/models/{model}:…`), which the
gateway forwards unchanged to the provider's host."""

import pytest
from sdk_helpers import provider_url

from aigw.testing.simulators.google_vertex import STATIC_TOKEN

genai = pytest.importorskip("google.genai", reason="google-genai is not installed (the `test` extra)")
types = pytest.importorskip("google.genai.types")

pytestmark = pytest.mark.filterwarnings("ignore:Inheritance class AiohttpClientSession:DeprecationWarning")

MODEL = "gemini-2.5-flash"
PROMPT = "alpha beta gamma"


def ai_studio_via(gw, api_key: str):
    """The AI Studio client on the gateway's google-ai-studio route."""
    options = types.HttpOptions(base_url=provider_url(gw, "google-ai-studio"), headers=gw.headers)
    return genai.Client(api_key=api_key, http_options=options)


def vertex_via(gw, token: str = STATIC_TOKEN, **options):
    """The Vertex client on the gateway's google-vertex-ai route, with OAuth credentials that
    carry a fixed access token (what `gcloud auth print-access-token` gives)."""
    from google.oauth2.credentials import Credentials

    http_options = types.HttpOptions(base_url=provider_url(gw, "google-vertex-ai"), headers=gw.headers, **options)
    return genai.Client(vertexai=True, project="p1", location="us-central1", credentials=Credentials(token=token), http_options=http_options)


# ---- google-ai-studio ----


async def test_ai_studio_generate_content_through_the_gateway(gateway, sims):
    sim = sims["google-ai-studio"]
    async with gateway() as gw:
        answer = await ai_studio_via(gw, sim.key).aio.models.generate_content(model=MODEL, contents=PROMPT)
    assert answer.text == PROMPT
    assert answer.usage_metadata.prompt_token_count == 3 and answer.usage_metadata.candidates_token_count == 3
    assert sim.last_request.path == f"/v1/models/{MODEL}:generateContent"  # the SDK's default version
    assert sim.last_request.headers["x-goog-api-key"] == sim.key
    (record,) = gw.records
    assert (record.provider, record.tokens_in, record.tokens_out) == ("google-ai-studio", 3, 3)


async def test_ai_studio_generate_content_stream_through_the_gateway(gateway, sims):
    sim = sims["google-ai-studio"]
    async with gateway() as gw:
        stream = await ai_studio_via(gw, sim.key).aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.text or "" for c in chunks) == PROMPT
    assert sim.last_request.raw_path == f"/v1/models/{MODEL}:streamGenerateContent?alt=sse"
    (record,) = gw.records
    assert record.stream and (record.tokens_in, record.tokens_out) == (3, 3)


# ---- google-vertex-ai (Gemini) ----


async def test_vertex_generate_content_through_the_gateway(gateway, sims):
    sim = sims["google-vertex-ai"]
    async with gateway() as gw:
        answer = await vertex_via(gw).aio.models.generate_content(model=MODEL, contents=PROMPT)
    assert answer.text == PROMPT
    # The SDK's Vertex default version, with the project and location it was given.
    assert sim.last_request.path == f"/v1beta1/projects/p1/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
    assert sim.last_request.headers["Authorization"] == f"Bearer {STATIC_TOKEN}"
    assert sim.tokens_minted == 0  # the client's own token went as is
    (record,) = gw.records
    assert (record.provider, record.tokens_in, record.tokens_out) == ("google-vertex-ai", 3, 3)


async def test_vertex_generate_content_stream_on_v1_through_the_gateway(gateway, sims):
    sim = sims["google-vertex-ai"]
    async with gateway() as gw:
        stream = await vertex_via(gw, api_version="v1").aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
        chunks = [chunk async for chunk in stream]
    assert "".join(c.text or "" for c in chunks) == PROMPT
    assert sim.last_request.raw_path == f"/v1/projects/p1/locations/us-central1/publishers/google/models/{MODEL}:streamGenerateContent?alt=sse"
    (record,) = gw.records
    assert record.stream and (record.tokens_in, record.tokens_out) == (3, 3)


async def test_vertex_with_a_bad_token_surfaces_the_providers_401(gateway, sims):
    errors = pytest.importorskip("google.genai.errors")
    async with gateway() as gw:
        with pytest.raises(errors.ClientError) as failed:
            await vertex_via(gw, token="ya29.not-a-token").aio.models.generate_content(model=MODEL, contents=PROMPT)
    assert failed.value.code == 401 and failed.value.status == "UNAUTHENTICATED"
