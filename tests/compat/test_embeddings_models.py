"""`POST …/compat/embeddings` and `GET …/compat/models` with the openai SDK, against the simulators."""

from __future__ import annotations

import openai
import orjson
import pytest

from aigw.compat.embeddings import EmbeddingTranslation, resolve_embedding_target
from aigw.compat.ir import UnsupportedParameter


def client(gw) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.http_url + "/compat", api_key="unused", default_headers=gw.headers, max_retries=0)


@pytest.mark.parametrize(
    "model",
    ["openai/text-embedding-3-small", "mistral/mistral-embed", "google-ai-studio/text-embedding-004", "workers-ai/@cf/baai/bge-base-en-v1.5"],
)
async def test_the_openai_sdk_embeds_through_every_embedding_provider(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        answer = await client(gw).embeddings.create(model=model, input="the quick brown fox")
        assert len(answer.data) == 1 and len(answer.data[0].embedding) > 0
        assert all(isinstance(x, float) for x in answer.data[0].embedding)


@pytest.mark.parametrize("model", ["openai/text-embedding-3-small", "workers-ai/@cf/baai/bge-base-en-v1.5"])
async def test_several_inputs_get_one_vector_each_in_order(aigw_gateway_factory, model):
    async with aigw_gateway_factory() as gw:
        c = client(gw)
        both = await c.embeddings.create(model=model, input=["alpha", "beta"], encoding_format="float")
        beta = await c.embeddings.create(model=model, input="beta", encoding_format="float")
        assert [d.index for d in both.data] == [0, 1]
        assert both.data[1].embedding == pytest.approx(beta.data[0].embedding)


async def test_translated_vectors_honour_base64_like_float(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        c = client(gw)
        as_b64 = await c.embeddings.create(model="google-ai-studio/text-embedding-004", input="x")  # the SDK asks for base64
        as_float = await c.embeddings.create(model="google-ai-studio/text-embedding-004", input="x", encoding_format="float")
        assert as_b64.data[0].embedding == pytest.approx(as_float.data[0].embedding)


async def test_a_provider_without_embeddings_is_a_bad_request_2008(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await client(gw).embeddings.create(model="anthropic/claude-sonnet-4-5", input="x")
        assert info.value.body["code"] == 2008


async def test_dimensions_are_refused_for_workers_ai_naming_the_parameter(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        with pytest.raises(openai.BadRequestError) as info:
            await client(gw).embeddings.create(model="workers-ai/@cf/baai/bge-base-en-v1.5", input="x", dimensions=64)
        assert "dimensions" in info.value.message


def test_several_inputs_to_gemini_are_one_batch_embed_contents_call():
    target = resolve_embedding_target("google-ai-studio", "text-embedding-004", {"google-ai-studio": object()}, {})
    tr = EmbeddingTranslation({"model": "x", "input": ["a", "b"], "dimensions": 16}, target)
    call = tr.upstream_call()
    assert call.endpoint == "v1beta/models/text-embedding-004:batchEmbedContents"
    assert orjson.loads(call.body)["requests"][1] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 16}
    status, body = tr.response(200, orjson.dumps({"embeddings": [{"values": [1, 2]}, {"values": [3, 4]}]}))
    assert status == 200 and [d["embedding"] for d in orjson.loads(body)["data"]] == [[1.0, 2.0], [3.0, 4.0]]


def test_token_array_inputs_are_refused_for_translated_providers():
    target = resolve_embedding_target("workers-ai", "@cf/baai/bge-base-en-v1.5", {"workers-ai": object()}, {})
    with pytest.raises(UnsupportedParameter, match="input"):
        EmbeddingTranslation({"model": "x", "input": [[1, 2, 3]]}, target).upstream_call()


async def test_models_lists_the_static_models_of_every_configured_provider(aigw_gateway_factory):
    async with aigw_gateway_factory() as gw:
        ids = [m.id async for m in client(gw).models.list()]
        assert "openai/gpt-4o-mini" in ids and "anthropic/claude-sonnet-4-5" in ids and "google-ai-studio/gemini-2.5-flash" in ids
        assert all("/" in i for i in ids)


async def test_a_configured_model_list_replaces_the_static_one(aigw_gateway_factory):
    async with aigw_gateway_factory(providers={"openai": {"models": ["my-tuned-model"]}}) as gw:
        ids = [m.id async for m in client(gw).models.list()]
        assert "openai/my-tuned-model" in ids and "openai/gpt-4o-mini" not in ids
        answer = await client(gw).chat.completions.create(model="openai/my-tuned-model", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content == "hi"
