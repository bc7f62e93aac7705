"""Provider keys and logs behind the Universal WebSocket API: stored keys fill in for the
client, the client's own key wins, gateway headers never reach providers, BYOK aliases; one
SQLite row per request with the per-request `cf-aig-*` logging options honoured and no secret
in it (websocket-api.md "Client → server", cloudflare-aigw.md §5.1)."""

from __future__ import annotations

import sqlite3

import orjson
from universal_ws_helpers import answer, answers, connect, create, step


def error_of(msg: dict) -> dict:
    return msg["response"]["errors"][0]


async def test_a_request_without_a_provider_key_uses_the_stored_key(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", event_id="k")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    assert sims["openai"].last_request.headers["authorization"] == f"Bearer {sims['openai'].key}"


async def test_the_clients_own_key_is_used_as_sent(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", headers={"Authorization": "Bearer sk-client-own"}, event_id="k")))
        (msg,) = await answer(ws)
    assert sims["openai"].last_request.headers["authorization"] == "Bearer sk-client-own"
    assert msg["metadata"]["status"] == 401  # the simulator knows only its own key; its answer is relayed


async def test_gateway_headers_never_reach_the_provider(gateway, sims):
    headers = {
        "cf-aig-authorization": f"Bearer {'x' * 8}",
        "cf-aig-metadata": '{"user": "u1"}',
        "cf-aig-cache-ttl": "0",
        "cf-aig-max-attempts": "2",
        "cf-aig-collect-log-payload": "false",
    }
    async with gateway() as gw:
        upgrade = {**gw.headers, "cf-aig-collect-log": "true", "cf-aig-metadata": '{"team": "t"}'}
        async with connect(gw, additional_headers=upgrade) as ws:
            await ws.send(create(step("openai", headers=headers, event_id="h")))
            (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    received = sims["openai"].last_request.headers
    assert not [name for name in received if name.lower().startswith("cf-aig")]
    assert gw.token not in str(dict(received))


async def test_a_byok_alias_picks_that_stored_key(gateway, sims):
    async with gateway(providers={"openai": {"keys": {"team-a": "sk-team-a"}}}) as gw, connect(gw) as ws:
        sims["openai"].key = "sk-team-a"
        await ws.send(create(step("openai", headers={"cf-aig-byok-alias": "team-a"}, event_id="b")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["status"] == 200
    assert sims["openai"].last_request.headers["authorization"] == "Bearer sk-team-a"


async def test_an_unknown_byok_alias_is_error_2040(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ws.send(create(step("openai", headers={"cf-aig-byok-alias": "nobody"}, event_id="b")))
        (msg,) = await answer(ws)
    assert msg["metadata"]["eventId"] == "b" and msg["metadata"]["status"] == 400
    assert error_of(msg)["code"] == 2040
    assert sims["openai"].requests == []


def rows(gw) -> list[dict]:
    with sqlite3.connect(gw.log_db) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM logs ORDER BY log_id")]


def bodies(gw) -> dict[str, tuple]:
    with sqlite3.connect(gw.log_db) as db:
        return {r[0]: (r[1], r[2]) for r in db.execute("SELECT log_id, request_body, response_body FROM log_bodies")}


async def test_each_request_is_logged_with_its_details_after_a_graceful_stop(gateway, sims):
    metadata = {"user": "u1", "n": 3, "ok": True, "a": "1", "b": "2", "sixth": "dropped"}
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "one two", headers={"cf-aig-metadata": orjson.dumps(metadata).decode()}, event_id="plain")))
            await ws.send(create(step("anthropic", "three four five", stream=True, event_id="streamed")))
            await ws.send(create([step("openai", "x", model="sim-fail-500", event_id="fallback"), step("workers-ai", "six")]))
            got = await answers(ws, 3)
        await gw.stop()
    log_ids = {eid: msgs[0]["metadata"]["logId"] for eid, msgs in got.items()}
    by_event = {r["event_id"]: r for r in rows(gw)}
    assert set(by_event) == {"plain", "streamed", "fallback"}
    for event_id, row in by_event.items():
        assert row["log_id"] == log_ids[event_id]
        assert row["gateway"] == "default" and row["request_type"] == "websocket"
        assert row["status"] == 200 and row["success"] == 1 and row["cache_status"] == "MISS"
        assert row["duration_ms"] > 0 and row["ttfb_ms"] is not None and row["ttfb_ms"] <= row["duration_ms"]
        assert row["tokens_in"] > 0 and row["tokens_out"] > 0
    plain, streamed, fallback = by_event["plain"], by_event["streamed"], by_event["fallback"]
    assert (plain["provider"], plain["model"], plain["endpoint"], plain["step"]) == ("openai", "gpt-4o-mini", "chat/completions", 0)
    assert orjson.loads(plain["metadata"]) == {"user": "u1", "n": 3, "ok": True, "a": "1", "b": "2"}
    assert (plain["tokens_in"], plain["tokens_out"]) == (2, 2)
    assert (streamed["provider"], streamed["stream"], streamed["tokens_out"]) == ("anthropic", 1, 3)
    assert (fallback["provider"], fallback["step"]) == ("workers-ai", 1)
    assert fallback["model"] == "@cf/meta/llama-3.1-8b-instruct"


async def test_collect_log_false_writes_no_row(gateway):
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", headers={"cf-aig-collect-log": "false"}, event_id="hidden")))
            await ws.send(create(step("openai", event_id="shown")))
            await answers(ws, 2)
        await gw.stop()
    assert [r["event_id"] for r in rows(gw)] == ["shown"]


async def test_collect_log_false_on_the_connection_applies_to_its_requests(gateway):
    async with gateway() as gw:
        async with connect(gw, additional_headers={**gw.headers, "cf-aig-collect-log": "false"}) as ws:
            await ws.send(create(step("openai", event_id="hidden")))
            await answer(ws)
        await gw.stop()
    assert rows(gw) == []


async def test_collect_log_payload_false_keeps_the_row_without_bodies(gateway):
    async with gateway() as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", "secret prompt", headers={"cf-aig-collect-log-payload": "false"}, event_id="meta-only")))
            await ws.send(create(step("openai", "visible prompt", event_id="full")))
            await answers(ws, 2)
        await gw.stop()
    by_event = {r["event_id"]: r for r in rows(gw)}
    stored = bodies(gw)
    assert set(by_event) == {"meta-only", "full"}
    assert stored.get(by_event["meta-only"]["log_id"], (None, None)) == (None, None)
    request_body, response_body = stored[by_event["full"]["log_id"]]
    assert b"visible prompt" in request_body and b"visible" in response_body
    raw = b"".join(p.read_bytes() for p in gw.data_dir.glob("logs.db*"))
    assert b"secret prompt" not in raw


async def test_no_provider_key_is_stored_in_the_logs(gateway, sims):
    async with gateway(providers={"openai": {"keys": {"team-a": "sk-team-a-secret"}}}) as gw:
        async with connect(gw) as ws:
            await ws.send(create(step("openai", event_id="stored")))
            await ws.send(create(step("anthropic", headers={"x-api-key": "sk-ant-client-secret"}, event_id="client")))
            await ws.send(create(step("openai", headers={"cf-aig-byok-alias": "team-a"}, event_id="alias")))
            await ws.send(create(step("openai", headers={"Authorization": "Bearer sk-openai-client-secret"}, stream=True, event_id="s")))
            await answers(ws, 4)
        await gw.stop()
    assert len(rows(gw)) == 4
    raw = b"".join(p.read_bytes() for p in gw.data_dir.glob("logs.db*"))
    for secret in (sims["openai"].key, "sk-team-a-secret", "sk-ant-client-secret", "sk-openai-client-secret", gw.token):
        assert secret.encode() not in raw, secret
