"""/compat for the cloud providers (Azure OpenAI, Vertex AI, Bedrock Converse, Cohere v2) with
the official SDKs, against their wire-faithful simulators: the model name alone picks the
provider, and the provider's native wire format is what reaches it."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.compat.test_compat_websocket import compat_step, exchange

HELLO = [{"role": "user", "content": "Hello there"}]
MODELS = [
    "azure-openai/my-resource/gpt-4o",
    "google-vertex-ai/google/gemini-2.5-flash",
    "google-vertex-ai/anthropic/claude-sonnet-4-5",
    "aws-bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
    "aws-bedrock/amazon.nova-pro-v1:0",
    "cohere/command-a-03-2025",
]


def openai_client(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)


@pytest.fixture
def sims(aigw_simulators):
    for sim in aigw_simulators.values():
        sim.chunks, sim.chunk_delay = 3, 0.001
    return aigw_simulators


@pytest.mark.parametrize("model", MODELS)
async def test_the_openai_sdk_gets_a_whole_answer_from_each_cloud_provider(aigw_gateway_factory, sims, model):
    async with aigw_gateway_factory() as gw:
        answer = await openai_client(gw).chat.completions.create(model=model, messages=HELLO, max_tokens=50)
    assert answer.choices[0].message.content == "Hello there"
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage.prompt_tokens > 0 and answer.usage.completion_tokens == 2


@pytest.mark.parametrize("model", MODELS)
async def test_the_openai_sdk_streams_from_each_cloud_provider_with_the_usage_chunk(aigw_gateway_factory, sims, model):
    async with aigw_gateway_factory() as gw:
        stream = await openai_client(gw).chat.completions.create(model=model, messages=HELLO, stream=True, stream_options={"include_usage": True})
        parts, reasons, usage = [], [], None
        async for chunk in stream:
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                reasons.append(choice.finish_reason)
            usage = chunk.usage or usage
    assert "".join(parts) == "Hello there"
    assert [r for r in reasons if r] == ["stop"]
    assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens == 2


async def test_azure_gets_the_deployment_url_with_an_api_version(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        await openai_client(gw).chat.completions.create(model="azure-openai/my-resource/gpt-4o", messages=HELLO)
    req = sims["azure-openai"].last_request
    assert req.path == "/my-resource/openai/deployments/gpt-4o/chat/completions"
    assert req.query["api-version"] == "2024-10-21" and req.json()["model"] == "gpt-4o"


async def test_vertex_gets_the_project_of_the_stored_service_account_and_a_minted_token(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        await openai_client(gw).chat.completions.create(model="google-vertex-ai/anthropic/claude-sonnet-4-5", messages=HELLO)
    req = sims["google-vertex-ai"].last_request
    assert req.path == "/v1/projects/sim-project/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-5:rawPredict"
    assert req.json()["anthropic_version"] == "vertex-2023-10-16" and "model" not in req.json()
    assert sims["google-vertex-ai"].tokens_minted == 1


async def test_vertex_takes_project_and_region_from_the_provider_config(aigw_gateway_factory, sims):
    async with aigw_gateway_factory(providers={"google-vertex-ai": {"project": "other-project", "region": "europe-west4"}}) as gw:
        await openai_client(gw).chat.completions.create(model="google-vertex-ai/gemini-2.5-flash", messages=HELLO, stream=True)
    assert sims["google-vertex-ai"].last_request.raw_path == "/v1/projects/other-project/locations/europe-west4/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


async def test_bedrock_gets_a_signed_converse_call_in_the_configured_region(aigw_gateway_factory, sims):
    async with aigw_gateway_factory(providers={"aws-bedrock": {"region": "eu-west-1"}}) as gw:
        await openai_client(gw).chat.completions.create(model="aws-bedrock/amazon.nova-pro-v1:0", messages=[{"role": "system", "content": "Be brief."}, *HELLO], max_tokens=20, temperature=0.2)
    req = sims["aws-bedrock"].last_request
    assert req.raw_path == "/model/amazon.nova-pro-v1%3A0/converse"
    assert "/eu-west-1/bedrock/aws4_request" in req.headers["authorization"]
    assert req.json() == {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}], "system": [{"text": "Be brief."}], "inferenceConfig": {"maxTokens": 20, "temperature": 0.2}}


async def test_cohere_gets_a_v2_chat_body(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        await openai_client(gw).chat.completions.create(model="cohere/command-a-03-2025", messages=HELLO, top_p=0.5, stop=["END"])
    req = sims["cohere"].last_request
    assert req.path == "/v2/chat"
    assert req.json() == {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "Hello there"}], "p": 0.5, "stop_sequences": ["END"]}


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("azure-openai/my-resource/gpt-4o-sim-fail-429", openai.RateLimitError),
        ("google-vertex-ai/google/gemini-sim-fail-404", openai.NotFoundError),
        ("google-vertex-ai/anthropic/claude-sim-fail-400", openai.BadRequestError),
        ("aws-bedrock/amazon.nova-sim-fail-400", openai.BadRequestError),
        ("cohere/command-sim-fail-400", openai.BadRequestError),
    ],
)
async def test_a_provider_error_reaches_the_openai_sdk_as_its_error_class(aigw_gateway_factory, sims, model, error):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(error) as info:
            await openai_client(gw).chat.completions.create(model=model, messages=HELLO)
    assert info.value.body["message"]


async def test_bedrock_refuses_an_image_url_naming_the_parameter_and_provider(aigw_gateway_factory, sims):
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await openai_client(gw).chat.completions.create(model="aws-bedrock/amazon.nova-pro-v1:0", messages=[{"role": "user", "content": content}])
    assert info.value.status_code == 400 and info.value.body["code"] == 2010
    assert "image_url" in info.value.message and "aws-bedrock" in info.value.message
    assert sims["aws-bedrock"].requests == []


async def test_a_bedrock_mid_stream_exception_ends_the_openai_stream_with_an_error(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        stream = await openai_client(gw).chat.completions.create(model="aws-bedrock/amazon.nova-sim-fault-error", messages=HELLO, stream=True)
        with pytest.raises(openai.APIError, match="throttling"):
            async for _ in stream:
                pass


async def test_an_azure_deployment_without_a_resource_is_an_invalid_provider(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await openai_client(gw).chat.completions.create(model="azure-openai/gpt-4o", messages=HELLO)
    assert info.value.body["code"] == 2008


@pytest.mark.parametrize("model", MODELS)
async def test_the_anthropic_sdk_streams_from_the_cloud_providers_through_the_messages_door(aigw_gateway_factory, sims, model):
    async with aigw_gateway_factory() as gw:
        client = anthropic.AsyncAnthropic(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)
        async with client.messages.stream(model=model, max_tokens=50, messages=HELLO) as stream:
            text = "".join([t async for t in stream.text_stream])
            final = await stream.get_final_message()
    assert text == "Hello there" and final.stop_reason == "end_turn" and final.usage.output_tokens == 2


@pytest.mark.parametrize("model", ["aws-bedrock/amazon.nova-pro-v1:0", "cohere/command-a-03-2025", "google-vertex-ai/google/gemini-2.5-flash"])
async def test_a_compat_websocket_step_streams_from_the_cloud_providers(aigw_gateway_factory, sims, model):
    async with aigw_gateway_factory() as gw:
        msgs = await exchange(gw, [compat_step(model, stream=True)])
    chunks = [m["response"] for m in msgs if m["type"] == "universal.stream"]
    assert "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"]) == "Hello there"
    assert msgs[-1]["type"] == "universal.done" and chunks[-1]["usage"]["completion_tokens"] == 2


async def test_a_translated_bedrock_stream_logs_the_converse_usage(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        stream = await openai_client(gw).chat.completions.create(model="aws-bedrock/amazon.nova-pro-v1:0", messages=HELLO, stream=True)
        async for _ in stream:
            pass
        await gw.stop()
    record = gw.records[-1]
    assert record.success and (record.tokens_in, record.tokens_out) == (2, 2)


async def test_azure_embeddings_go_to_the_deployment_with_an_api_version(aigw_gateway_factory, sims):
    async with aigw_gateway_factory() as gw:
        answer = await openai_client(gw).embeddings.create(model="azure-openai/my-resource/text-embedding-3-small", input="Hello there")
    assert len(answer.data) == 1 and answer.data[0].embedding
    req = sims["azure-openai"].last_request
    assert req.path == "/my-resource/openai/deployments/text-embedding-3-small/embeddings" and req.query["api-version"] == "2024-10-21"
