"""google-vertex-ai: regional URLs, Gemini and Anthropic publishers, client bearer tokens, and
OAuth tokens minted (and cached) from a stored service account at a configurable token URL."""

import asyncio
import base64
import json

import orjson
import pytest
from provider_helpers import ask

from aigw.builtins.providers.google_vertex import GoogleVertexAIProvider, parse_service_account
from aigw.errors import BadRequest, ProviderFailed
from aigw.testing.simulators.google_vertex import STATIC_TOKEN
from aigw.types import Call, Usage
from aigw.upstream import UpstreamClient

GEMINI = "v1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
CLAUDE = "v1/projects/p1/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5:rawPredict"
CONTENTS = {"contents": [{"role": "user", "parts": [{"text": "up down left"}]}]}
MESSAGES = {"anthropic_version": "vertex-2023-10-16", "max_tokens": 64, "messages": [{"role": "user", "content": "up down left"}]}


def test_the_region_in_the_path_picks_the_host():
    provider = GoogleVertexAIProvider()
    assert provider.build_request(Call("google-vertex-ai", GEMINI, b"{}", {"authorization": "Bearer t"}), None).url == f"https://us-central1-aiplatform.googleapis.com/{GEMINI}"
    global_path = GEMINI.replace("us-central1", "global")
    assert provider.build_request(Call("google-vertex-ai", global_path, b"{}"), None).url == f"https://aiplatform.googleapis.com/{global_path}"


@pytest.mark.parametrize("endpoint", ["models/gemini:generateContent", "v1/projects/p/regions/x/a/b", "v2/projects/p/locations/r/publishers/google"])
def test_other_endpoints_are_client_errors(endpoint):
    with pytest.raises(BadRequest):
        GoogleVertexAIProvider().build_request(Call("google-vertex-ai", endpoint, b"{}"), None)


def test_a_service_account_is_accepted_as_json_or_cloudflares_base64_with_region(sims):
    account = sims["google-vertex-ai"].service_account
    assert parse_service_account(json.dumps(account))["client_email"] == account["client_email"]
    cloudflare = base64.b64encode(json.dumps({**account, "region": "us-east5"}).encode()).decode()
    assert parse_service_account(cloudflare)["region"] == "us-east5"
    with pytest.raises(ProviderFailed) as bad:
        parse_service_account('{"private_key": "-----BEGIN s3cr3t"}')
    assert "s3cr3t" not in str(bad.value)


UNPLACED = "v1/projects/-/locations/-/publishers/google/models/gemini-2.5-flash:generateContent"


def test_a_dash_project_and_location_come_from_cloudflares_service_account_form(sims):
    account = sims["google-vertex-ai"].service_account
    cloudflare = base64.b64encode(json.dumps({**account, "region": "us-east5"}).encode()).decode()
    req = GoogleVertexAIProvider().build_request(Call("google-vertex-ai", UNPLACED, b"{}"), cloudflare)
    assert req.url == "https://us-east5-aiplatform.googleapis.com/v1/projects/sim-project/locations/us-east5/publishers/google/models/gemini-2.5-flash:generateContent"


def test_the_configured_project_and_region_win_over_the_service_account(sims):
    provider = GoogleVertexAIProvider(project="p2", region="global")
    req = provider.build_request(Call("google-vertex-ai", UNPLACED, b"{}"), json.dumps(sims["google-vertex-ai"].service_account))
    assert req.url == "https://aiplatform.googleapis.com/v1/projects/p2/locations/global/publishers/google/models/gemini-2.5-flash:generateContent"


def test_a_dash_project_with_nothing_to_fill_it_is_a_client_error():
    with pytest.raises(BadRequest, match="project"):
        GoogleVertexAIProvider().build_request(Call("google-vertex-ai", UNPLACED, b"{}", {"authorization": "Bearer t"}), None)


def test_usage_of_gemini_and_anthropic_answers():
    provider = GoogleVertexAIProvider()
    assert provider.usage_from_body(b'{"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}') == Usage(3, 2)
    assert provider.usage_from_body(b'{"type":"message","usage":{"input_tokens":4,"output_tokens":1}}') == Usage(4, 1)
    start = b'{"type":"message_start","message":{"usage":{"input_tokens":4,"output_tokens":1}}}'
    assert provider.usage_from_events([start], [b'{"type":"message_delta","usage":{"output_tokens":6}}', b'{"type":"message_stop"}']) == Usage(4, 6)


def test_a_429_waits_the_retryinfo_delay():
    body = b'{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"7s"}]}}'
    assert GoogleVertexAIProvider().classify_error(429, {}, body).retry_after == 7.0


# ---- minting tokens (prepare) against the simulator's token endpoint ----


async def prepared(provider, endpoint, body, key, client):
    call = Call("google-vertex-ai", endpoint, orjson.dumps(body))
    return await provider.prepare(provider.build_request(call, key), call, key, client)


async def test_a_stored_service_account_mints_a_token_once_and_reuses_it(sims):
    sim = sims["google-vertex-ai"]
    provider = GoogleVertexAIProvider(base_url=sim.base_url(), token_url=sim.url + "/token")
    client = UpstreamClient()
    try:
        requests = await asyncio.gather(*(prepared(provider, GEMINI, CONTENTS, sim.key, client) for _ in range(5)))
        tokens = {dict(r.headers)["authorization"] for r in requests}
        assert len(tokens) == 1 and sim.tokens_minted == 1
        resp = await client.request(requests[0].method, requests[0].url, requests[0].headers, requests[0].body)
        assert resp.status == 200 and orjson.loads(await resp.read())["candidates"][0]["content"]["parts"][0]["text"] == "up down left"
    finally:
        await client.close()


async def test_a_token_near_expiry_is_replaced(sims):
    sim = sims["google-vertex-ai"]
    sim.token_lifetime = 60  # inside the five-minute margin: never reused
    provider = GoogleVertexAIProvider(base_url=sim.base_url(), token_url=sim.url + "/token")
    client = UpstreamClient()
    try:
        first = await prepared(provider, GEMINI, CONTENTS, sim.key, client)
        second = await prepared(provider, GEMINI, CONTENTS, sim.key, client)
    finally:
        await client.close()
    assert dict(first.headers)["authorization"] != dict(second.headers)["authorization"]
    assert sim.tokens_minted == 2


async def test_a_refused_token_exchange_is_a_provider_failure_without_secrets(sims):
    sim = sims["google-vertex-ai"]
    provider = GoogleVertexAIProvider(base_url=sim.base_url(), token_url=sim.url + "/token")
    from aigw.testing.simulators.google_vertex import GoogleVertexAISimulator

    stranger = GoogleVertexAISimulator().key  # same account name, another private key
    client = UpstreamClient()
    try:
        with pytest.raises(ProviderFailed, match="invalid_grant") as failed:
            await prepared(provider, GEMINI, CONTENTS, stranger, client)
    finally:
        await client.close()
    assert "PRIVATE KEY" not in str(failed.value)


# ---- through the gateway ----


async def test_gemini_through_the_gateway_with_the_clients_token(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "google-vertex-ai", GEMINI, CONTENTS, headers={"authorization": f"Bearer {STATIC_TOKEN}"})
    assert msg["metadata"]["status"] == 200
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_claude_on_vertex_streams_through_the_gateway(gateway, sims):
    endpoint = CLAUDE.replace(":rawPredict", ":streamRawPredict")
    async with gateway() as gw:
        created, *events, done = await ask(gw, "google-vertex-ai", endpoint, {**MESSAGES, "stream": True}, headers={"authorization": f"Bearer {STATIC_TOKEN}"})
    assert "".join(e["response"]["delta"]["text"] for e in events if e["response"]["type"] == "content_block_delta") == "up down left"
    assert done["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_a_stored_service_account_authenticates_through_the_gateway(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "google-vertex-ai", CLAUDE, MESSAGES)
    assert msg["metadata"]["status"] == 200
    assert sims["google-vertex-ai"].tokens_minted == 1


def test_anthropics_vertex_client_talks_to_the_simulator(sims):
    anthropic = pytest.importorskip("anthropic")
    client = anthropic.AnthropicVertex(region="us-east5", project_id="p1", access_token=STATIC_TOKEN, base_url=sims["google-vertex-ai"].url + "/v1")
    answer = client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "up down"}])
    assert answer.content[0].text == "up down" and answer.usage.output_tokens == 2
    with client.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "up down"}]) as stream:
        assert stream.get_final_text() == "up down"
