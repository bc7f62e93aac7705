"""Cloudflare's Universal endpoint over HTTP, `POST /v1/{account}/{gateway}` (cloudflare-aigw.md
§3): the documented example sent unchanged (only its keys point at the simulators), fallback on
an error and on `requestTimeout`, `cf-aig-step` naming the step that answered, and errors in
Cloudflare's JSON shape."""

from __future__ import annotations

import json
import time

import orjson
import pytest
from doors import session, sse_data


def cloudflare_example(sims) -> list[dict]:
    """§3's example, as Cloudflare documents it: Workers AI first, OpenAI (streamed) as fallback."""
    return [
        {
            "provider": "workers-ai",
            "endpoint": "@cf/meta/llama-3.1-8b-instruct",
            "headers": {"Authorization": f"Bearer {sims['workers-ai'].key}", "Content-Type": "application/json"},
            "config": {"requestTimeout": 1000, "maxAttempts": 2, "retryDelay": 1000, "backoff": "constant"},
            "query": {"messages": [{"role": "user", "content": "What is Cloudflare?"}]},
        },
        {
            "provider": "openai",
            "endpoint": "chat/completions",
            "headers": {
                "Authorization": f"Bearer {sims['openai'].key}",
                "Content-Type": "application/json",
                "cf-aig-cache-ttl": "0",
            },
            "query": {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "What is Cloudflare?"}]},
        },
    ]


async def post(gw, body, headers=None):
    """POST `body` (JSON-encoded unless bytes) to the Universal endpoint: (status, headers, body)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with session() as http:
        async with http.post(gw.http_url, data=data, headers={"content-type": "application/json", **(headers if headers is not None else gw.headers)}) as resp:
            return resp.status, resp.headers, await resp.read()


def openai_text(body: bytes) -> str:
    """The text of an OpenAI chat completions SSE body (which must end with [DONE])."""
    data = sse_data(body)
    assert data[-1] == b"[DONE]"
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in map(orjson.loads, data[:-1]) if c["choices"])


def assert_gateway_error(status: int, body: bytes, want_status: int, code: int) -> None:
    assert status == want_status, body
    doc = orjson.loads(body)
    assert doc["success"] is False and doc["name"] == "AiGatewayError"
    assert doc["error"][0]["code"] == code and doc["internalCode"] == code and doc["httpCode"] == want_status
    assert doc["message"] == doc["error"][0]["message"] and "Traceback" not in doc["message"]


async def test_the_first_step_that_answers_is_relayed_with_cf_aig_step_0(gateway, sims):
    async with gateway() as gw:
        status, headers, body = await post(gw, cloudflare_example(sims))
    assert status == 200 and headers["cf-aig-step"] == "0"
    doc = orjson.loads(body)
    assert doc["result"]["response"] == "What is Cloudflare?"  # Workers AI's own body, unchanged
    assert sims["openai"].requests == []


async def test_a_step_that_answers_500_falls_back_to_the_next_after_its_retries(gateway, sims):
    sims["workers-ai"].fail_next(500, count=2)  # both of step 0's attempts
    async with gateway() as gw:
        status, headers, body = await post(gw, cloudflare_example(sims))
    assert status == 200 and headers["cf-aig-step"] == "1"
    assert headers["content-type"].startswith("text/event-stream")
    assert openai_text(body) == "What is Cloudflare?"
    assert len(sims["workers-ai"].requests) == 2 and len(sims["openai"].requests) == 1
    (record,) = gw.records
    assert record.step == 1 and [a.status for a in record.attempts] == [500, 500, 200]


async def test_a_step_slower_than_its_request_timeout_falls_back_to_the_next(gateway, sims):
    sims["workers-ai"].latency = 1.5  # past step 0's requestTimeout of 1000 ms, on both attempts
    async with gateway() as gw:
        started = time.monotonic()
        status, headers, body = await post(gw, cloudflare_example(sims))
        elapsed = time.monotonic() - started
    assert status == 200 and headers["cf-aig-step"] == "1"
    assert openai_text(body) == "What is Cloudflare?"
    assert 2.9 < elapsed < 4.5  # two 1 s timeouts and one 1 s retry delay, then the fallback


async def test_a_streamed_step_is_relayed_as_sse_as_it_arrives(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 4, 0.2
    async with gateway() as gw, session() as http:
        steps = cloudflare_example(sims)[1:]
        steps[0]["query"]["messages"][0]["content"] = "one two three four"
        async with http.post(gw.http_url, json=steps, headers=gw.headers) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers["cf-aig-step"] == "0"
            first = await resp.content.readuntil(b"\n\n")
            early = sims["openai"].streams_finished  # the first frame came before the stream ended
            rest = await resp.read()
    assert early == 0
    assert openai_text(first + rest) == "one two three four"


async def test_the_answer_carries_the_gateways_response_headers(gateway, sims):
    async with gateway() as gw:
        status, headers, _ = await post(gw, cloudflare_example(sims)[1])  # one step object, not an array
    assert status == 200
    assert headers["cf-aig-step"] == "0"
    assert headers["cf-aig-cache-status"] == "MISS"
    assert headers["cf-aig-log-id"] == gw.records[0].log_id
    assert headers["cf-aig-event-id"] == gw.records[0].event_id


async def test_the_clients_event_id_is_echoed(gateway, sims):
    async with gateway() as gw:
        _, headers, _ = await post(gw, cloudflare_example(sims), {**gw.headers, "cf-aig-event-id": "evt-42"})
    assert headers["cf-aig-event-id"] == "evt-42"
    assert gw.records[0].event_id == "evt-42"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[{not json", 2010),
        (b"", 2010),
        (b'"a string"', 2010),
        (b"[]", 2010),
        (b'[{"provider": "no-such-provider", "endpoint": "x", "query": {}}]', 2008),
    ],
    ids=["bad-json", "empty-body", "not-an-object", "empty-array", "unknown-provider"],
)
async def test_a_bad_request_is_a_4xx_in_cloudflares_error_shape(gateway, sims, body, code):
    async with gateway() as gw:
        status, _, answer = await post(gw, body)
    assert_gateway_error(status, answer, 400, code)


async def test_every_step_failing_is_a_502_with_code_2005(gateway, sims):
    steps = cloudflare_example(sims)
    steps[0]["config"] = {"maxAttempts": 1}
    sims["workers-ai"].fault_next("reset")  # half a body, then a TCP reset
    sims["openai"].fault_next("reset", after=0)  # the stream resets before its first event
    async with gateway() as gw:
        status, _, body = await post(gw, steps)
    assert_gateway_error(status, body, 502, 2005)
    assert len(sims["workers-ai"].requests) == 1 and len(sims["openai"].requests) == 1


async def test_every_step_timing_out_is_a_504_with_code_2007(gateway, sims):
    steps = cloudflare_example(sims)[:1]
    steps[0]["config"] = {"requestTimeout": 200, "maxAttempts": 1}
    sims["workers-ai"].latency = 1.0
    async with gateway() as gw:
        status, _, body = await post(gw, steps)
    assert_gateway_error(status, body, 504, 2007)


async def test_every_step_answering_an_error_relays_the_last_error_as_it_came(gateway, sims):
    steps = cloudflare_example(sims)
    steps[0]["config"] = {"maxAttempts": 1}
    sims["workers-ai"].fail_next(500)
    sims["openai"].fail_next(503)
    async with gateway() as gw:
        status, headers, body = await post(gw, steps)
    assert status == 503 and headers["cf-aig-step"] == "1"
    assert orjson.loads(body)["error"]["type"] == "server_error"  # OpenAI's own error body


async def test_cf_aig_authorization_inside_a_steps_headers_does_not_authenticate_the_gateway(gateway, sims):
    async with gateway() as gw:
        steps = cloudflare_example(sims)
        for step in steps:
            step["headers"]["cf-aig-authorization"] = f"Bearer {gw.token}"
        status, _, body = await post(gw, steps, headers={})
    assert_gateway_error(status, body, 401, 2009)
    assert sims["workers-ai"].requests == [] and sims["openai"].requests == []
