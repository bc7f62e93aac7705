"""ollama (native API): /api/chat and /api/generate, NDJSON streams, usage from the final object."""

from provider_helpers import ask

from aigw.builtins.providers.ollama import OllamaProvider
from aigw.types import Call, Framing, Usage

FINAL = b'{"model":"llama3.2","done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":2}'


def test_no_key_is_needed_and_the_native_paths_are_kept():
    provider = OllamaProvider(base_url="http://gpu-box:11434")
    assert provider.has_client_auth({})
    assert provider.build_request(Call("ollama", "api/chat", b"{}"), None).url == "http://gpu-box:11434/api/chat"


def test_the_ndjson_answer_is_framed_as_ndjson():
    assert OllamaProvider().framing(Call("ollama", "api/chat", b""), 200, "application/x-ndjson") is Framing.NDJSON


def test_usage_of_a_whole_answer_and_of_an_ndjson_body_read_whole():
    provider = OllamaProvider()
    assert provider.usage_from_body(FINAL) == Usage(26, 2)
    assert provider.usage_from_body(b'{"done":false,"message":{"content":"Hi"}}\n' + FINAL + b"\n") == Usage(26, 2)


def test_stream_usage_is_the_done_line_and_an_error_line_has_none():
    provider = OllamaProvider()
    assert provider.usage_from_events([], [FINAL]) == Usage(26, 2)
    assert provider.usage_from_events([], [b'{"error":"boom"}']) is None


def test_the_openai_compatible_routes_report_openai_usage():
    assert OllamaProvider().usage_from_body(b'{"usage":{"prompt_tokens":4,"completion_tokens":5}}') == Usage(4, 5)


# ---- through the gateway ----


async def test_chat_without_stream_false_is_one_final_object(gateway, sims):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "red green blue"}], "stream": False}
    async with gateway() as gw:
        (msg,) = await ask(gw, "ollama", "api/chat", body)
    assert msg["response"]["message"]["content"] == "red green blue" and msg["response"]["done"] is True
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_a_chat_stream_relays_one_message_per_line_with_usage_at_the_end(gateway, sims):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "red green blue"}], "stream": True}
    async with gateway() as gw:
        created, *lines, done = await ask(gw, "ollama", "api/chat", body)
    assert created["metadata"]["contentType"] == "application/x-ndjson"
    assert "".join(line["response"]["message"]["content"] for line in lines) == "red green blue"
    assert lines[-1]["response"]["done"] is True
    assert done["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_generate_streams_too(gateway, sims):
    async with gateway() as gw:
        created, *lines, done = await ask(gw, "ollama", "api/generate", {"model": "llama3.2", "prompt": "x y", "stream": True})
    assert "".join(line["response"]["response"] for line in lines) == "x y"
    assert done["metadata"]["usage"] == {"tokensIn": 2, "tokensOut": 2}


async def test_an_unknown_model_is_ollamas_404(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "ollama", "api/chat", {"model": "sim-missing", "messages": [], "stream": False})
    assert msg["metadata"]["status"] == 404 and "not found" in msg["response"]["error"]


def test_the_ollama_client_talks_to_the_simulator(sims):
    import pytest

    ollama = pytest.importorskip("ollama")
    client = ollama.Client(host=sims["ollama"].url)
    answer = client.chat(model="llama3.2", messages=[{"role": "user", "content": "a b c"}])
    assert answer.message.content == "a b c" and answer.eval_count == 3
    assert "".join(part.message.content for part in client.chat(model="llama3.2", messages=[{"role": "user", "content": "a b c"}], stream=True)) == "a b c"
