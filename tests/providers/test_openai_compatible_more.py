"""fireworks (OpenAI-compatible), baseten (Model APIs and deployments) and parallel (tasks)."""

import pytest
from provider_helpers import ask

from aigw.builtins.providers.baseten import BasetenProvider
from aigw.builtins.providers.openai import compatible_provider
from aigw.builtins.providers.parallel import ParallelProvider
from aigw.errors import BadRequest
from aigw.types import Call

CHAT = {"model": "m", "messages": [{"role": "user", "content": "six seven"}]}


def test_fireworks_is_a_member_of_the_compatible_family():
    req = compatible_provider("fireworks").build_request(Call("fireworks", "chat/completions", b"{}"), "fw")
    assert req.url == "https://api.fireworks.ai/inference/v1/chat/completions"


@pytest.mark.parametrize("endpoint", ["v1/chat/completions", "chat/completions"])
def test_baseten_model_apis_accept_both_cloudflare_forms(endpoint):
    req = BasetenProvider().build_request(Call("baseten", endpoint, b"{}"), "k")
    assert req.url == "https://inference.baseten.co/v1/chat/completions"


def test_baseten_deployments_go_to_their_own_host():
    provider = BasetenProvider()
    assert provider.build_request(Call("baseten", "model/abc123", b"{}"), "k").url == "https://model-abc123.api.baseten.co/production/predict"
    assert provider.build_request(Call("baseten", "model/abc123/development", b"{}"), "k").url == "https://model-abc123.api.baseten.co/development/predict"
    with pytest.raises(BadRequest):
        provider.build_request(Call("baseten", "model/a.b", b"{}"), "k")


def test_parallel_takes_its_key_in_x_api_key():
    req = ParallelProvider().build_request(Call("parallel", "v1/tasks/runs", b"{}"), "par")
    assert req.url == "https://api.parallel.ai/v1/tasks/runs" and ("x-api-key", "par") in req.headers


async def test_fireworks_stream_reports_usage_from_the_finishing_chunk(gateway, sims):
    async with gateway() as gw:
        *_, done = await ask(gw, "fireworks", "chat/completions", {**CHAT, "stream": True})
    assert done["metadata"]["usage"] == {"tokensIn": 2, "tokensOut": 2}


async def test_baseten_chat_and_a_deployment_prediction(gateway, sims):
    async with gateway() as gw:
        (chat,) = await ask(gw, "baseten", "v1/chat/completions", CHAT)
        (predict,) = await ask(gw, "baseten", "model/abc123", {"prompt": "hi there"})
    assert chat["response"]["choices"][0]["message"]["content"] == "six seven"
    assert predict["response"] == {"output": "hi there", "model_id": "abc123"}
    assert sims["baseten"].last_request.path == "/deployments/abc123/production/predict"


async def test_parallel_creates_a_task_run_with_the_stored_key(gateway, sims):
    async with gateway() as gw:
        (run,) = await ask(gw, "parallel", "v1/tasks/runs", {"input": "what is aigw", "processor": "base"})
    assert run["response"]["status"] == "queued" and run["response"]["run_id"].startswith("trun_")
    assert sims["parallel"].last_request.headers["x-api-key"] == sims["parallel"].key
    # (`GET v1/tasks/runs/{id}/result` needs the provider route: Universal steps are POSTs.)
