"""The gateway's own rules on the HTTP doors: the cache (`cf-aig-cache-ttl`), rate limits,
gateway authentication on every route (built-in doors and plugin routes) with Cloudflare's 401
body, and the public health and readiness answers."""

from __future__ import annotations

import json

import orjson
import pytest
from doors import chat, session, sse_data

from aigw import HttpRequest, HttpResponse, hookimpl
from aigw.testing.plugins import register_plugin


async def ask(http, gw, url: str, body, headers: dict | None = None):
    """POST JSON `body` to `url` under the gateway: (status, headers, body bytes)."""
    async with http.post(gw.http_url + url, data=json.dumps(body), headers={"content-type": "application/json", **gw.headers, **(headers or {})}) as resp:
        return resp.status, resp.headers, await resp.read()


async def test_a_cached_answer_is_a_hit_the_second_time_and_never_reaches_the_provider(gateway, sims):
    async with gateway() as gw, session() as http:
        first = await ask(http, gw, "/openai/chat/completions", chat("cache me"), {"cf-aig-cache-ttl": "60"})
        second = await ask(http, gw, "/openai/chat/completions", chat("cache me"), {"cf-aig-cache-ttl": "60"})
    assert (first[0], first[1]["cf-aig-cache-status"]) == (200, "MISS")
    assert (second[0], second[1]["cf-aig-cache-status"]) == (200, "HIT")
    assert orjson.loads(second[2])["choices"] == orjson.loads(first[2])["choices"]
    assert second[1]["content-type"].startswith("application/json")
    assert len(sims["openai"].requests) == 1
    assert [r.cache_status for r in gw.records] == ["MISS", "HIT"]


async def test_a_streamed_answer_is_not_cached(gateway, sims):
    async with gateway() as gw, session() as http:
        body = chat("stream me twice", stream=True)
        for _ in range(2):
            status, headers, answer = await ask(http, gw, "/openai/chat/completions", body, {"cf-aig-cache-ttl": "60"})
            assert (status, headers["cf-aig-cache-status"]) == (200, "MISS")
            assert sse_data(answer)[-1] == b"[DONE]"
    assert len(sims["openai"].requests) == 2


async def test_a_universal_request_is_cached_too(gateway, sims):
    step = {"provider": "openai", "endpoint": "chat/completions", "headers": {"cf-aig-cache-ttl": "60"}, "query": chat("universal cache")}
    async with gateway() as gw, session() as http:
        statuses = [(await ask(http, gw, "", [step]))[1]["cf-aig-cache-status"] for _ in range(2)]
    assert statuses == ["MISS", "HIT"]
    assert len(sims["openai"].requests) == 1


async def test_without_a_cache_ttl_nothing_is_cached(gateway, sims):
    async with gateway() as gw, session() as http:
        for _ in range(2):
            status, headers, _ = await ask(http, gw, "/openai/chat/completions", chat("no cache"))
            assert (status, headers["cf-aig-cache-status"]) == (200, "MISS")
    assert len(sims["openai"].requests) == 2


async def test_past_the_rate_limit_the_answer_is_429_with_code_2003(gateway, sims, clear_of_window_edge):
    config = {"gateways": {"default": {"rate_limit": {"limit": 2, "interval": 60, "technique": "fixed"}}}}
    async with gateway(**config) as gw, session() as http:
        await clear_of_window_edge(60)  # the three in one fixed window
        answers = [await ask(http, gw, "/openai/chat/completions", chat(f"n{i}")) for i in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    doc = orjson.loads(answers[2][2])
    assert doc["success"] is False and doc["error"][0]["code"] == 2003 and doc["internalCode"] == 2003
    assert len(sims["openai"].requests) == 2


# ---- authentication ---------------------------------------------------------------------------


async def plugin_hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse(200, [("content-type", "application/json")], orjson.dumps({"hello": request.gateway}))


class PluginRoutes:
    @hookimpl
    def register_routes(self, register):
        register("GET", "/plugin-hello", plugin_hello)
        register("POST", "/v1/{account}/{gateway}/plugin-hello/{rest:path}", plugin_hello)


ROUTES = [
    ("POST", "/v1/acct/default", b'[{"provider": "openai", "endpoint": "chat/completions", "query": {}}]'),
    ("POST", "/v1/acct/default/openai/chat/completions", b"{}"),
    ("GET", "/v1/acct/default/openai/models", b""),
    ("POST", "/v1/acct/default/workers-ai/@cf/meta/llama-3.1-8b-instruct", b"{}"),
    ("GET", "/plugin-hello", b""),
    ("POST", "/v1/acct/default/plugin-hello/x", b"{}"),
]


@pytest.mark.parametrize("token", ["none", "wrong", "in-authorization"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_an_authenticated_gateway_refuses_every_route_without_its_token(gateway, sims, method, path, body, token):
    headers = {"wrong": {"cf-aig-authorization": "Bearer not-the-token"}, "none": {}}.get(token, {})
    with register_plugin(PluginRoutes(), name="http-plugin-routes"):
        async with gateway() as gw, session() as http:
            if token == "in-authorization":  # the provider's header is not the gateway's
                headers = {"authorization": f"Bearer {gw.token}"}
            async with http.request(method, f"http://127.0.0.1:{gw.port}{path}", data=body, headers=headers) as resp:
                status, doc = resp.status, await resp.json(content_type=None)
    assert status == 401
    assert doc["success"] is False and doc["error"] == [{"code": 2009, "message": doc["message"]}]
    assert (doc["name"], doc["httpCode"], doc["internalCode"]) == ("AiGatewayError", 401, 2009)
    assert all(not sim.requests for sim in sims.values())


async def test_with_its_token_a_plugin_route_answers(gateway, sims):
    with register_plugin(PluginRoutes(), name="http-plugin-routes"):
        async with gateway() as gw, session() as http:
            async with http.get(f"http://127.0.0.1:{gw.port}/plugin-hello", headers=gw.headers) as resp:
                assert resp.status == 200
            async with http.post(gw.http_url + "/plugin-hello/x", headers=gw.headers) as resp:
                assert (resp.status, await resp.json()) == (200, {"hello": "default"})


@pytest.mark.parametrize("path", ["/health", "/ready"])
async def test_health_and_readiness_are_public(gateway, path):
    async with gateway() as gw, session() as http:
        async with http.get(f"http://127.0.0.1:{gw.port}{path}") as resp:
            assert resp.status == 200
            doc = await resp.json()
    if path == "/ready":
        assert doc == {"status": "ready"}
