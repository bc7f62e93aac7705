"""Official chat SDKs pointed at the gateway's provider routes: `openai.AsyncAzureOpenAI`,
`cohere.AsyncClientV2`, `anthropic.AsyncAnthropicVertex` and `ollama.AsyncClient`. The
gateway injects the stored key (an SDK that insists on sending a credential has that header
dropped on the way, as a keyless client would), streams pass through for the SDK to parse."""

import pytest
from sdk_helpers import httpx_without, provider_url

from aigw.testing.simulators.google_vertex import STATIC_TOKEN

MESSAGES = [{"role": "user", "content": "one two three"}]


# ---- azure-openai ----


def azure_via(gw, openai, resource="my-res", deployment="gpt-4o"):
    """The Azure client on the route `…/azure-openai/{resource}/{deployment}`, keyless."""
    return openai.AsyncAzureOpenAI(
        base_url=provider_url(gw, "azure-openai", resource, deployment), api_key="dropped", api_version="2024-10-21",
        default_headers=gw.headers, max_retries=0, http_client=httpx_without("api-key", asynchronous=True),
    )


async def test_azure_chat_through_the_gateway_uses_the_stored_key(gateway, sims):
    openai = pytest.importorskip("openai")
    sim = sims["azure-openai"]
    async with gateway() as gw:
        answer = await azure_via(gw, openai).chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == "one two three"
    assert sim.last_request.headers["api-key"] == sim.key
    assert sim.last_request.raw_path == "/my-res/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
    (record,) = gw.records
    assert (record.provider, record.tokens_in, record.tokens_out) == ("azure-openai", 3, 3)


async def test_azure_endpoint_form_of_the_sdk_reaches_the_same_deployment(gateway, sims):
    openai = pytest.importorskip("openai")
    sim = sims["azure-openai"]
    async with gateway() as gw:
        client = openai.AsyncAzureOpenAI(
            azure_endpoint=provider_url(gw, "azure-openai", "my-res"), azure_deployment="gpt-4o", api_key="dropped",
            api_version="2024-10-21", default_headers=gw.headers, max_retries=0, http_client=httpx_without("api-key", asynchronous=True),
        )
        answer = await client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert answer.choices[0].message.content == "one two three"
    assert sim.last_request.raw_path == "/my-res/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"


@pytest.mark.parametrize(
    "endpoint,upstream",
    [
        ("r/gpt-4o/chat/completions", "deployments/gpt-4o/chat/completions"),
        ("r/gpt-4o/deployments/gpt-4o/chat/completions", "deployments/gpt-4o/chat/completions"),
        ("r/openai/deployments/gpt-4o/chat/completions", "deployments/gpt-4o/chat/completions"),
        ("r/openai/v1/chat/completions", "v1/chat/completions"),
        ("r/openai/chat/completions", "deployments/openai/chat/completions"),  # a deployment named "openai"
    ],
)
def test_azure_accepts_the_paths_the_sdk_writes(endpoint, upstream):
    from aigw.builtins.providers.azure_openai import AzureOpenAIProvider
    from aigw.types import Call

    assert AzureOpenAIProvider().url_for(Call("azure-openai", endpoint, b"")) == f"https://r.openai.azure.com/openai/{upstream}"


def test_azure_refuses_a_model_that_is_not_the_urls_deployment():
    from aigw.builtins.providers.azure_openai import AzureOpenAIProvider
    from aigw.errors import BadRequest
    from aigw.types import Call

    with pytest.raises(BadRequest, match="deployment"):
        AzureOpenAIProvider().url_for(Call("azure-openai", "r/gpt-4o/deployments/gpt-5/chat/completions", b""))


async def test_azure_chat_streams_through_the_gateway(gateway, sims):
    openai = pytest.importorskip("openai")
    async with gateway() as gw:
        stream = await azure_via(gw, openai).chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True, stream_options={"include_usage": True})
        chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    (record,) = gw.records
    assert record.stream and record.success and record.tokens_out == 3


async def test_azures_content_filter_400_reaches_the_sdk_unchanged(gateway, sims):
    openai = pytest.importorskip("openai")
    async with gateway() as gw:
        with pytest.raises(openai.BadRequestError) as refused:
            await azure_via(gw, openai).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "sim-content-filter"}])
    assert refused.value.status_code == 400 and refused.value.code == "content_filter"
    assert refused.value.body["innererror"]["code"] == "ResponsibleAIPolicyViolation"
    assert len(sims["azure-openai"].requests) == 1  # a refusal is not retried


# ---- cohere ----


def cohere_via(gw, cohere):
    return cohere.AsyncClientV2(
        api_key="dropped", base_url=provider_url(gw, "cohere"),
        httpx_client=httpx_without("authorization", asynchronous=True),
    )


async def test_cohere_chat_through_the_gateway(gateway, sims):
    cohere = pytest.importorskip("cohere")
    sim = sims["cohere"]
    async with gateway() as gw:
        answer = await cohere_via(gw, cohere).chat(model="command-a-03-2025", messages=MESSAGES, request_options={"additional_headers": gw.headers})
    assert answer.message.content[0].text == "one two three"
    assert answer.usage.billed_units.input_tokens == 3
    assert sim.last_request.headers["Authorization"] == f"Bearer {sim.key}"


async def test_cohere_chat_streams_through_the_gateway(gateway, sims):
    cohere = pytest.importorskip("cohere")
    # Cohere's v2 stream ends with message-end, where the SDK stops reading and closes; a
    # trailing [DONE] (the simulator's default) would race that close (the gateway then logs
    # the request as cancelled by its client), so this test serves the stream as Cohere does.
    sims["cohere"].sends_done = False
    async with gateway() as gw:
        stream = cohere_via(gw, cohere).chat_stream(model="command-a-03-2025", messages=MESSAGES, request_options={"additional_headers": gw.headers})
        events = [event async for event in stream]
    assert "".join(e.delta.message.content.text for e in events if e.type == "content-delta") == "one two three"
    assert events[-1].type == "message-end"
    (record,) = gw.records
    assert record.stream and (record.tokens_in, record.tokens_out) == (3, 3)


async def test_cohere_embed_through_the_gateway(gateway, sims):
    cohere = pytest.importorskip("cohere")
    async with gateway() as gw:
        answer = await cohere_via(gw, cohere).embed(
            model="embed-v4.0", texts=["a b", "c"], input_type="search_document", embedding_types=["float"],
            request_options={"additional_headers": gw.headers},
        )
    assert len(answer.embeddings.float_) == 2


# ---- google-vertex-ai: Claude on Vertex ----


def anthropic_httpx():
    """The httpx package the installed anthropic SDK is built on."""
    import anthropic._base_client as base

    return "httpx2" if hasattr(base, "httpx2") else "httpx"


def vertex_via(gw, anthropic, *, stored_key: bool):
    """AnthropicVertex on `…/google-vertex-ai/v1`. With `stored_key` its bearer token is
    dropped so that the gateway mints one from the stored service account."""
    http = httpx_without("authorization", asynchronous=True, module=anthropic_httpx()) if stored_key else None
    return anthropic.AsyncAnthropicVertex(
        region="us-east5", project_id="p1", access_token=STATIC_TOKEN, base_url=provider_url(gw, "google-vertex-ai", "v1"),
        default_headers=gw.headers, max_retries=0, http_client=http,
    )


async def test_anthropic_vertex_with_a_stored_service_account_mints_a_token(gateway, sims):
    anthropic = pytest.importorskip("anthropic")
    sim = sims["google-vertex-ai"]
    async with gateway() as gw:
        client = vertex_via(gw, anthropic, stored_key=True)
        answer = await client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "up down"}])
        async with client.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "up down"}]) as stream:
            text = await stream.get_final_text()
    assert answer.content[0].text == "up down" and text == "up down"
    assert sim.tokens_minted == 1  # minted once through the simulator's token URL, then cached
    assert sim.last_request.headers["Authorization"] != f"Bearer {STATIC_TOKEN}"
    assert [(r.tokens_in, r.tokens_out) for r in gw.records] == [(2, 2), (2, 2)]


async def test_anthropic_vertex_with_the_clients_own_token(gateway, sims):
    anthropic = pytest.importorskip("anthropic")
    async with gateway() as gw:
        answer = await vertex_via(gw, anthropic, stored_key=False).messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "up down"}])
    assert answer.content[0].text == "up down"
    assert sims["google-vertex-ai"].tokens_minted == 0


# ---- ollama ----


async def test_ollama_chat_through_the_gateway(gateway, sims):
    ollama = pytest.importorskip("ollama")
    async with gateway() as gw:
        client = ollama.AsyncClient(host=provider_url(gw, "ollama"), headers=gw.headers)
        answer = await client.chat(model="llama3.2", messages=[{"role": "user", "content": "a b c"}])
        parts = [part async for part in await client.chat(model="llama3.2", messages=[{"role": "user", "content": "a b c"}], stream=True)]
    assert answer.message.content == "a b c" and answer.eval_count == 3
    assert "".join(p.message.content for p in parts) == "a b c" and parts[-1].done
    streamed = gw.records[-1]
    assert streamed.stream and streamed.tokens_out == 3
