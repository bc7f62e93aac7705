"""Provider routes with a plain HTTP client (aiohttp): Google AI Studio and Workers AI, whole and
streamed, the provider's own bytes relayed; stored keys injected only when the client sent none;
`cf-aig-*` headers never forwarded."""

from __future__ import annotations

import orjson
from doors import chat, session, sse_data

GEMINI = {"contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}]}
LLAMA = "@cf/meta/llama-3.1-8b-instruct"


async def test_google_ai_studio_generate_content_answers_whole(gateway, sims):
    async with gateway() as gw, session() as http:
        url = gw.http_url + "/google-ai-studio/v1beta/models/gemini-2.0-flash:generateContent"
        async with http.post(url, json=GEMINI, headers=gw.headers) as resp:
            assert resp.status == 200, await resp.text()
            doc = await resp.json()
    assert doc["candidates"][0]["content"]["parts"][0]["text"] == "hello gemini"
    assert doc["usageMetadata"]["candidatesTokenCount"] == 2
    request = sims["google-ai-studio"].last_request
    assert request.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert request.headers["x-goog-api-key"] == sims["google-ai-studio"].key  # the stored key


async def test_google_ai_studio_stream_generate_content_stays_sse(gateway, sims):
    async with gateway() as gw, session() as http:
        url = gw.http_url + "/google-ai-studio/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse"
        async with http.post(url, json={"contents": [{"parts": [{"text": "a b c d"}]}]}, headers=gw.headers) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            assert resp.headers.get("transfer-encoding") == "chunked"
            body = await resp.read()
    frames = [orjson.loads(d) for d in sse_data(body)]
    assert "".join(f["candidates"][0]["content"]["parts"][0]["text"] for f in frames) == "a b c d"
    assert sims["google-ai-studio"].last_request.raw_path.endswith(":streamGenerateContent?alt=sse")
    (record,) = gw.records
    assert record.stream and record.success and record.tokens_out == 4


async def test_workers_ai_runs_a_model_whole(gateway, sims):
    async with gateway() as gw, session() as http:
        body = {"messages": [{"role": "user", "content": "hello llama"}]}
        async with http.post(f"{gw.http_url}/workers-ai/{LLAMA}", json=body, headers=gw.headers) as resp:
            assert resp.status == 200, await resp.text()
            doc = await resp.json()
    assert doc["success"] is True and doc["result"]["response"] == "hello llama"
    assert sims["workers-ai"].last_request.path.endswith(f"/ai/run/{LLAMA}")


async def test_workers_ai_streams_a_model_as_sse_to_done(gateway, sims):
    async with gateway() as gw, session() as http:
        body = {"messages": [{"role": "user", "content": "w x y z"}], "stream": True}
        async with http.post(f"{gw.http_url}/workers-ai/{LLAMA}", json=body, headers=gw.headers) as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            raw = await resp.read()
    data = sse_data(raw)
    assert data[-1] == b"[DONE]"
    assert "".join(orjson.loads(d)["response"] for d in data[:-1]) == "w x y z"


async def test_a_stream_is_relayed_byte_for_byte(gateway, sims):
    """What the simulator sent is what the client read: no re-framing of SSE."""
    async with gateway() as gw, session() as http:
        headers = {**gw.headers, "authorization": f"Bearer {sims['openai'].key}"}
        async with http.post(gw.http_url + "/openai/chat/completions", json=chat("a b c", stream=True), headers=headers) as resp:
            via_gateway = await resp.read()
        async with http.post(sims["openai"].base_url() + "/chat/completions", json=chat("a b c", stream=True), headers=headers) as resp:
            direct = await resp.read()

    def normalised(body: bytes) -> bytes:  # ids and timestamps differ per response
        frames = [orjson.loads(d) if d != b"[DONE]" else d for d in sse_data(body)]
        for f in frames:
            if isinstance(f, dict):
                f.pop("id", None), f.pop("created", None)
        return orjson.dumps([f if isinstance(f, dict) else f.decode() for f in frames])

    assert normalised(via_gateway) == normalised(direct)
    assert via_gateway.count(b"\n\n") == direct.count(b"\n\n")


async def test_the_stored_key_is_injected_when_the_client_sends_none(gateway, sims):
    async with gateway() as gw, session() as http:
        async with http.post(gw.http_url + "/openai/chat/completions", json=chat("stored key"), headers=gw.headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["choices"][0]["message"]["content"] == "stored key"
    assert sims["openai"].last_request.headers["authorization"] == f"Bearer {sims['openai'].key}"


async def test_gateway_headers_and_the_client_hop_are_not_forwarded(gateway, sims):
    async with gateway() as gw, session() as http:
        headers = {**gw.headers, "cf-aig-metadata": '{"team": "a"}', "cf-aig-skip-cache": "true", "x-custom": "kept"}
        async with http.post(gw.http_url + "/openai/chat/completions?trace=1", json=chat(), headers=headers) as resp:
            assert resp.status == 200
    request = sims["openai"].last_request
    assert not [name for name in request.headers if name.lower().startswith("cf-aig-")]
    assert request.headers["x-custom"] == "kept"
    assert request.raw_path == "/v1/chat/completions?trace=1"
    assert gw.records[0].metadata == {"team": "a"}


async def test_a_get_request_is_passed_through_with_its_method(gateway, sims):
    async with gateway() as gw, session() as http:
        async with http.get(gw.http_url + "/openai/no/such/path", headers=gw.headers) as resp:
            status = resp.status
    assert status == 404  # the provider's answer, relayed
    assert sims["openai"].last_request.method == "GET"


async def test_a_w3c_traceparent_continues_the_callers_trace_and_still_reaches_the_provider(gateway, sims):
    trace, span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    traceparent = f"00-{trace}-{span}-01"
    async with gateway() as gw, session() as http:
        headers = {**gw.headers, "traceparent": traceparent}
        async with http.post(f"{gw.http_url}/openai/chat/completions", json=chat(), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
    (record,) = gw.records
    assert (record.trace_id, record.parent_span_id) == (trace, span)
    assert sims["openai"].last_request.headers["traceparent"] == traceparent


async def test_a_provider_route_echoes_the_clients_event_id_and_otherwise_uses_the_log_id(gateway, sims):
    body = {"messages": [{"role": "user", "content": "hello llama"}]}
    async with gateway() as gw, session() as http:
        async with http.post(f"{gw.http_url}/workers-ai/{LLAMA}", json=body, headers={**gw.headers, "cf-aig-event-id": "evt-7"}) as resp:
            named = dict(resp.headers)
        async with http.post(f"{gw.http_url}/workers-ai/{LLAMA}", json=body, headers=gw.headers) as resp:
            unnamed = dict(resp.headers)
    assert named["cf-aig-event-id"] == "evt-7" != named["cf-aig-log-id"]
    assert unnamed["cf-aig-event-id"] == unnamed["cf-aig-log-id"]
    assert [r.event_id for r in gw.records] == ["evt-7", unnamed["cf-aig-log-id"]]
