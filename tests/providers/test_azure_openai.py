"""azure-openai: Cloudflare's `{resource}/{deployment}/…` URLs, `api-key`, keys per resource,
Azure's error and content-filter shapes; end to end over the Universal WebSocket API."""

import orjson
import pytest
from provider_helpers import ask

from aigw.builtins.providers.azure_openai import AzureOpenAIProvider
from aigw.errors import BadRequest
from aigw.types import Call

CHAT = {"messages": [{"role": "user", "content": "one two three"}]}


def call(endpoint, headers=None, query="api-version=2024-10-21"):
    return Call("azure-openai", endpoint, orjson.dumps(CHAT), headers or {}, query)


def test_deployment_form_goes_to_the_resource_host_with_the_query():
    req = AzureOpenAIProvider().build_request(call("my-res/gpt-4o/chat/completions"), "k")
    assert req.url == "https://my-res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


def test_v1_form_goes_to_the_v1_api():
    req = AzureOpenAIProvider().build_request(call("my-res/v1/chat/completions", query=""), "k")
    assert req.url == "https://my-res.openai.azure.com/openai/v1/chat/completions"


def test_a_configured_api_version_is_added_only_when_the_client_sent_none():
    provider = AzureOpenAIProvider(api_version="2025-01-01")
    assert provider.build_request(call("r/d/embeddings", query=""), "k").url.endswith("/embeddings?api-version=2025-01-01")
    assert provider.build_request(call("r/d/embeddings"), "k").url.endswith("/embeddings?api-version=2024-10-21")


@pytest.mark.parametrize("endpoint", ["chat/completions", "my-res/gpt-4o", "bad.host/d/chat/completions", "r/d/../../x"])
def test_an_endpoint_without_resource_and_deployment_is_a_client_error(endpoint):
    with pytest.raises(BadRequest):
        AzureOpenAIProvider().build_request(call(endpoint), "k")


def test_a_stored_key_goes_in_api_key_and_the_client_may_send_its_own_or_a_bearer_token():
    provider = AzureOpenAIProvider()
    assert ("api-key", "stored") in provider.build_request(call("r/d/chat/completions"), "stored").headers
    assert provider.has_client_auth({"api-key": "k"}) and provider.has_client_auth({"authorization": "Bearer entra"})
    assert not provider.has_client_auth({})


def test_stored_keys_are_chosen_per_resource():
    assert AzureOpenAIProvider().key_alias(call("eastus-res/gpt-4o/chat/completions")) == "eastus-res"


def test_a_429_without_headers_waits_the_delay_azure_writes_in_its_message():
    body = b'{"error":{"code":"429","message":"... Please retry after 6 seconds."}}'
    verdict = AzureOpenAIProvider().classify_error(429, {}, body)
    assert (verdict.retryable, verdict.retry_after) == (True, 6.0)


def test_retry_after_ms_wins_over_the_message():
    body = b'{"error":{"code":"429","message":"Please retry after 6 seconds."}}'
    assert AzureOpenAIProvider().classify_error(429, {"retry-after-ms": "250"}, body).retry_after == 0.25


def test_a_content_filter_refusal_is_not_retried():
    body = b'{"error":{"code":"content_filter","innererror":{"code":"ResponsibleAIPolicyViolation"}}}'
    assert AzureOpenAIProvider().classify_error(400, {}, body).retryable is False


# ---- through the gateway ----


async def test_a_chat_completion_reaches_the_deployment_with_the_stored_key(gateway, sims):
    sim = sims["azure-openai"]
    async with gateway() as gw:
        (msg,) = await ask(gw, "azure-openai", "my-res/gpt-4o/chat/completions?api-version=2024-10-21", CHAT)
    assert msg["metadata"]["status"] == 200
    assert msg["response"]["choices"][0]["message"]["content"] == "one two three"
    assert msg["response"]["prompt_filter_results"]
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}
    assert sim.last_request.path == "/my-res/openai/deployments/gpt-4o/chat/completions"
    assert sim.last_request.query == {"api-version": "2024-10-21"}
    assert sim.last_request.headers["api-key"] == sim.key


async def test_a_stream_relays_azures_anonymous_filter_chunk_and_reports_usage(gateway, sims):
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    async with gateway() as gw:
        created, *chunks, done = await ask(gw, "azure-openai", "my-res/gpt-4o/chat/completions?api-version=2024-10-21", body)
    assert created["type"] == "universal.created" and done["type"] == "universal.done"
    assert chunks[0]["response"]["choices"] == [] and chunks[0]["response"]["id"] == ""
    text = "".join(c["response"]["choices"][0]["delta"].get("content") or "" for c in chunks if c["response"]["choices"])
    assert text == "one two three"
    assert done["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_a_content_filter_refusal_is_relayed_with_its_status_and_shape(gateway, sims):
    body = {"messages": [{"role": "user", "content": "sim-content-filter please"}]}
    async with gateway() as gw:
        (msg,) = await ask(gw, "azure-openai", "my-res/gpt-4o/chat/completions?api-version=2024-10-21", body)
    assert msg["metadata"]["status"] == 400
    assert msg["response"]["error"]["code"] == "content_filter"
    assert msg["response"]["error"]["innererror"]["code"] == "ResponsibleAIPolicyViolation"


async def test_a_throttled_request_is_retried_and_then_answers(gateway, sims):
    sim = sims["azure-openai"]
    sim.retry_after = 0
    sim.fail_next(429)
    async with gateway() as gw:
        (msg,) = await ask(gw, "azure-openai", "my-res/gpt-4o/chat/completions?api-version=2024-10-21", CHAT, config={"maxAttempts": 2})
    assert msg["metadata"]["status"] == 200
    assert len(sim.requests) == 2


# ---- the official SDK against the simulator (wire fidelity) ----


def test_the_openai_sdks_azure_client_talks_to_the_simulator(sims):
    openai = pytest.importorskip("openai")
    sim = sims["azure-openai"]
    client = openai.AzureOpenAI(azure_endpoint=f"{sim.url}/my-res", api_key=sim.key, api_version="2024-10-21")
    answer = client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"])
    assert answer.choices[0].message.content == "one two three"
    stream = client.chat.completions.create(model="gpt-4o", messages=CHAT["messages"], stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "one two three"
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "sim-content-filter"}])
    assert refused.value.code == "content_filter"


async def test_each_resource_uses_its_own_stored_key(gateway, sims):
    sim = sims["azure-openai"]
    config = {"azure-openai": {"key": "a-key-for-other-resources", "keys": {"my-res": sim.key}}}
    async with gateway(providers=config) as gw:
        (msg,) = await ask(gw, "azure-openai", "my-res/gpt-4o/chat/completions?api-version=2024-10-21", CHAT)
    assert msg["metadata"]["status"] == 200
    assert sim.last_request.headers["api-key"] == sim.key
