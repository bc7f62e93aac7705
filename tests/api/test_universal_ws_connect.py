"""Connecting to the Universal WebSocket API: URL, gateway and account matching, token auth
(header or subprotocol), rejections before the upgrade; and Cloudflare's published example
working unchanged (websocket-api.md "Connecting", cloudflare-aigw.md §1.1-1.2)."""

from __future__ import annotations

import orjson
import pytest
import websockets
from universal_ws_helpers import answer, connect, create, step
from websockets.exceptions import InvalidStatus


async def rejected(url: str, **kw) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        async with websockets.connect(url, **kw):
            pass
    return info.value


def error_code(exc: InvalidStatus) -> int:
    body = orjson.loads(exc.response.body)
    assert body["success"] is False and body["result"] is None
    return body["errors"][0]["code"]


async def test_token_in_the_header_opens_the_connection(gateway):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="e1")))
        (msg,) = await answer(ws)
        assert msg["type"] == "universal.created" and msg["metadata"]["status"] == 200


async def test_token_in_the_subprotocol_opens_the_connection_and_is_not_echoed(gateway):
    async with gateway() as gw:
        offered = [f"cf-aig-authorization.{gw.token}"]
        async with websockets.connect(gw.url, subprotocols=offered) as ws:
            assert ws.subprotocol is None
            assert gw.token not in str(ws.response.headers)
            await ws.send(create(step("openai", event_id="e1")))
            (msg,) = await answer(ws)
            assert msg["metadata"]["status"] == 200


async def test_another_offered_subprotocol_is_selected_instead_of_the_token(gateway):
    async with gateway() as gw:
        offered = [f"cf-aig-authorization.{gw.token}", "universal.v1"]
        async with websockets.connect(gw.url, subprotocols=offered) as ws:
            assert ws.subprotocol == "universal.v1"
            assert gw.token not in str(ws.response.headers)


async def test_missing_token_is_refused_with_401_before_the_upgrade(gateway):
    async with gateway() as gw:
        exc = await rejected(gw.url)
        assert exc.response.status_code == 401
        assert error_code(exc) == 2009


async def test_bad_token_is_refused_with_401(gateway):
    async with gateway() as gw:
        exc = await rejected(gw.url, additional_headers={"cf-aig-authorization": "Bearer not-a-token"})
        assert exc.response.status_code == 401 and error_code(exc) == 2009
        exc = await rejected(gw.url, subprotocols=["cf-aig-authorization.not-a-token"])
        assert exc.response.status_code == 401 and error_code(exc) == 2009


async def test_unknown_gateway_is_404_with_code_2001(gateway):
    async with gateway() as gw:
        exc = await rejected(gw.url_for("nope"), additional_headers=gw.headers)
        assert exc.response.status_code == 404 and error_code(exc) == 2001


async def test_configured_account_id_must_match(gateway):
    async with gateway(gateways={"default": {"account_id": "acct-42"}}) as gw:
        exc = await rejected(gw.url_for("default", "other"), additional_headers=gw.headers)
        assert exc.response.status_code == 404 and error_code(exc) == 2001
        async with connect(gw, gw.url_for("default", "acct-42")) as ws:
            await ws.send(create(step("openai", event_id="e1")))
            assert (await answer(ws))[0]["metadata"]["status"] == 200


async def test_any_account_id_is_accepted_when_none_is_configured(gateway):
    async with gateway() as gw, connect(gw, gw.url_for("default", "whatever-account")) as ws:
        await ws.send(create(step("openai", event_id="e1")))
        assert (await answer(ws))[0]["metadata"]["status"] == 200


async def test_trailing_slash_is_accepted(gateway):
    async with gateway() as gw, connect(gw, gw.url + "/") as ws:
        await ws.send(create(step("openai", event_id="e1")))
        assert (await answer(ws))[0]["metadata"]["status"] == 200


async def test_gateway_without_authentication_needs_no_token(gateway):
    async with gateway(gateways={"default": {"authentication": False}}, create_token=False) as gw:
        async with websockets.connect(gw.url) as ws:
            await ws.send(create(step("openai", event_id="e1")))
            assert (await answer(ws))[0]["metadata"]["status"] == 200


async def test_cloudflare_published_example_works_unchanged(gateway, sims):
    """cloudflare-aigw.md §1.2, byte for byte except the host (and the simulator's key)."""
    async with gateway() as gw:
        workers_ai_token = sims["workers-ai"].key
        async with websockets.connect(gw.url + "/", additional_headers={"cf-aig-authorization": f"Bearer {gw.token}"}) as ws:
            await ws.send(
                orjson.dumps(
                    {
                        "type": "universal.create",
                        "request": {
                            "eventId": "my-request",
                            "provider": "workers-ai",
                            "endpoint": "@cf/meta/llama-3.1-8b-instruct",
                            "headers": {"Authorization": f"Bearer {workers_ai_token}", "Content-Type": "application/json"},
                            "query": {"prompt": "tell me a joke"},
                        },
                    }
                ).decode()
            )
            (msg,) = await answer(ws)
    assert msg["type"] == "universal.created"
    assert msg["metadata"]["eventId"] == "my-request"
    assert msg["metadata"]["step"] == "0" and msg["metadata"]["cacheStatus"] == "MISS"
    assert msg["metadata"]["contentType"] == "application/json"
    assert msg["response"]["success"] is True and isinstance(msg["response"]["result"]["response"], str)
    assert sims["workers-ai"].last_request.path.endswith("/ai/run/@cf/meta/llama-3.1-8b-instruct")


async def test_the_aigw_gateway_fixture_serves_the_default_gateway(aigw_gateway, aigw_simulators):
    assert aigw_gateway.url == f"ws://127.0.0.1:{aigw_gateway.port}/v1/acct/default"
    assert (aigw_gateway.data_dir / "aigw.toml").is_file()
    async with websockets.connect(aigw_gateway.url, additional_headers=aigw_gateway.headers) as ws:
        await ws.send(create(step("mistral", event_id="m")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    assert aigw_simulators["mistral"].last_request.headers["authorization"] == f"Bearer {aigw_simulators['mistral'].key}"
    assert [r.event_id for r in aigw_gateway.records] == ["m"]


async def test_a_second_configured_gateway_is_served_with_its_own_settings(gateway):
    async with gateway(gateways={"team": {"collect_logs": False}}) as gw:
        async with connect(gw, gw.url_for("team")) as ws:
            await ws.send(create(step("openai", event_id="t")))
            (msg,) = await answer(ws)
        assert msg["metadata"]["status"] == 200
        await gw.stop()
    assert gw.records and gw.records[0].gateway == "team"
    import sqlite3

    with sqlite3.connect(gw.log_db) as db:
        assert db.execute("SELECT count(*) FROM logs").fetchone() == (0,)  # collect_logs = false
