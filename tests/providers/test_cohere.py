"""cohere: v2 chat (streamed and not), embed and rerank; usage from `billed_units`."""

import pytest
from provider_helpers import ask

from aigw.builtins.providers.cohere import CohereProvider
from aigw.types import Call, Usage

CHAT = {"model": "command-a-03-2025", "messages": [{"role": "user", "content": "alpha beta gamma"}]}


def test_a_stored_key_is_a_bearer_token_and_a_clients_token_scheme_counts_as_auth():
    provider = CohereProvider()
    req = provider.build_request(Call("cohere", "v2/chat", b"{}"), "co-key")
    assert req.url == "https://api.cohere.ai/v2/chat"
    assert ("authorization", "Bearer co-key") in req.headers
    assert provider.has_client_auth({"authorization": "Token co-key"})


def test_chat_usage_is_the_billed_units_not_the_raw_tokens():
    body = b'{"usage":{"billed_units":{"input_tokens":3,"output_tokens":2},"tokens":{"input_tokens":70,"output_tokens":2}}}'
    assert CohereProvider().usage_from_body(body) == Usage(3, 2)


def test_embed_usage_comes_from_meta():
    assert CohereProvider().usage_from_body(b'{"meta":{"billed_units":{"input_tokens":5}}}') == Usage(5, None)


def test_rerank_bills_search_units_so_no_tokens_are_reported():
    assert CohereProvider().usage_from_body(b'{"meta":{"billed_units":{"search_units":1}}}') is None


def test_stream_usage_is_read_from_message_end():
    end = b'{"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":{"billed_units":{"input_tokens":3,"output_tokens":2}}}}'
    assert CohereProvider().usage_from_events([], [b'{"type":"content-end","index":0}', end]) == Usage(3, 2)


@pytest.mark.parametrize("status,retryable", [(429, True), (498, False), (499, False), (500, True), (422, False)])
def test_error_verdicts(status, retryable):
    assert CohereProvider().classify_error(status, {}, b'{"message":"x"}').retryable is retryable


# ---- through the gateway ----


async def test_chat_answers_with_billed_usage(gateway, sims):
    async with gateway() as gw:
        (msg,) = await ask(gw, "cohere", "v2/chat", CHAT)
    assert msg["response"]["message"]["content"][0]["text"] == "alpha beta gamma"
    assert msg["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}
    assert sims["cohere"].last_request.headers["authorization"] == f"Bearer {sims['cohere'].key}"


@pytest.mark.parametrize("sends_done", [True, False])
async def test_a_stream_relays_every_named_event_and_ends_with_usage(gateway, sims, sends_done):
    sims["cohere"].sends_done = sends_done
    async with gateway() as gw:
        created, *events, done = await ask(gw, "cohere", "v2/chat", {**CHAT, "stream": True})
    types = [e["response"]["type"] for e in events]
    assert types[:2] == ["message-start", "content-start"] and types[-2:] == ["content-end", "message-end"]
    assert "".join(e["response"]["delta"]["message"]["content"]["text"] for e in events if e["response"]["type"] == "content-delta") == "alpha beta gamma"
    assert done["type"] == "universal.done" and "error" not in done["metadata"]
    assert done["metadata"]["usage"] == {"tokensIn": 3, "tokensOut": 3}


async def test_embed_and_rerank(gateway, sims):
    async with gateway() as gw:
        (embed,) = await ask(gw, "cohere", "v2/embed", {"model": "embed-v4.0", "texts": ["a b", "c"], "input_type": "search_document", "embedding_types": ["float"]})
        (rerank,) = await ask(gw, "cohere", "v2/rerank", {"model": "rerank-v3.5", "query": "red fox", "documents": ["blue sky", "red fox runs"]})
    assert len(embed["response"]["embeddings"]["float"]) == 2 and embed["metadata"]["usage"]["tokensIn"] == 3
    assert rerank["response"]["results"][0]["index"] == 1


# ---- the official SDK against the simulator ----


def test_the_cohere_sdk_talks_to_the_simulator(sims):
    cohere = pytest.importorskip("cohere")
    sim = sims["cohere"]
    client = cohere.ClientV2(api_key=sim.key, base_url=sim.url)
    answer = client.chat(model="command-a-03-2025", messages=CHAT["messages"])
    assert answer.message.content[0].text == "alpha beta gamma"
    assert answer.usage.billed_units.input_tokens == 3
    deltas = [e.delta.message.content.text for e in client.chat_stream(model="command-a-03-2025", messages=CHAT["messages"]) if e.type == "content-delta"]
    assert "".join(deltas) == "alpha beta gamma"
