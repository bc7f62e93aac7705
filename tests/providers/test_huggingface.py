"""huggingface: `/huggingface/{org}/{model}`, TGI streams without [DONE], loading models retried."""

from provider_helpers import ask

from aigw.builtins.providers.huggingface import HuggingFaceProvider
from aigw.types import Call, Usage

MODEL = "bigcode/starcoder"


def test_the_model_id_is_the_path_under_models():
    req = HuggingFaceProvider().build_request(Call("huggingface", MODEL, b"{}"), "hf_x")
    assert req.url == "https://api-inference.huggingface.co/models/bigcode/starcoder"
    assert ("authorization", "Bearer hf_x") in req.headers


def test_usage_is_the_generated_token_count_when_details_are_there():
    provider = HuggingFaceProvider()
    assert provider.usage_from_body(b'[{"generated_text":"x","details":{"generated_tokens":7}}]') == Usage(None, 7)
    assert provider.usage_from_body(b'[{"generated_text":"x"}]') is None


def test_a_loading_model_is_retried_after_its_estimate():
    verdict = HuggingFaceProvider().classify_error(503, {}, b'{"error":"Model is currently loading","estimated_time":20.0}')
    assert (verdict.retryable, verdict.retry_after) == (True, 20.0)


async def test_generation_through_the_gateway(gateway, sims):
    body = {"inputs": "def hello world", "parameters": {"details": True}}
    async with gateway() as gw:
        (msg,) = await ask(gw, "huggingface", MODEL, body)
    assert msg["response"] == [{"generated_text": "def hello world", "details": {"finish_reason": "eos_token", "generated_tokens": 3, "seed": None}}]
    assert msg["metadata"]["usage"] == {"tokensIn": None, "tokensOut": 3}
    assert sims["huggingface"].last_request.path == "/models/bigcode/starcoder"


async def test_a_tgi_stream_without_done_ends_cleanly_with_the_output_count(gateway, sims):
    async with gateway() as gw:
        created, *frames, done = await ask(gw, "huggingface", MODEL, {"inputs": "a b c", "stream": True})
    assert "".join(f["response"]["token"]["text"] for f in frames) == "a b c"
    assert frames[-1]["response"]["generated_text"] == "a b c"
    assert "error" not in done["metadata"] and done["metadata"]["usage"]["tokensOut"] == 3


async def test_a_loading_model_is_waited_for_and_then_answers(gateway, sims):
    sims["huggingface"].fail_next(503)
    async with gateway() as gw:
        (msg,) = await ask(gw, "huggingface", MODEL, {"inputs": "x"}, config={"maxAttempts": 2})
    assert msg["metadata"]["status"] == 200 and len(sims["huggingface"].requests) == 2
