"""The logs API (issue 13, item 4): list with filters and cursor paging, one log with its
bodies, PATCH feedback/score/metadata, delete by filter; a token sees its gateway's logs only."""

from __future__ import annotations

import aiohttp
import orjson
from observe_helpers import http_base, send
from universal_ws_helpers import step

PRICED = {"models": {"openai/gpt-4o-mini": {"input": 10_000, "output": 20_000}}}


def logs_url(gw, gateway: str = "default") -> str:
    return f"{http_base(gw)}/v1/acct/{gateway}/logs"


async def call(method: str, url: str, headers: dict, **kw) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session, session.request(method, url, headers=headers, **kw) as resp:
        return resp.status, orjson.loads(await resp.read())


async def traffic(gw) -> None:
    """Three logged requests: two tagged team=a (one of them failed), one team=b."""
    await send(gw, step("openai", "one two three", headers={"cf-aig-metadata": '{"team": "a"}'}))
    await send(gw, step("openai", "x", model="sim-fail-400", headers={"cf-aig-metadata": '{"team": "a"}'}))
    await send(gw, step("anthropic", "four five", headers={"cf-aig-metadata": '{"team": "b"}'}))
    await gw.gateway.log_store.flush()


async def test_listing_filters_by_provider_success_and_metadata(gateway, sims):
    async with gateway() as gw:
        await traffic(gw)
        status, everything = await call("GET", logs_url(gw), gw.headers)
        _, team_a = await call("GET", logs_url(gw) + "?metadata.team=a", gw.headers)
        _, failed = await call("GET", logs_url(gw) + "?success=false", gw.headers)
        _, anthropic = await call("GET", logs_url(gw) + "?provider=anthropic", gw.headers)
    assert status == 200 and everything["success"] is True and everything["result_info"]["count"] == 3
    assert [r["provider"] for r in everything["result"]] == ["anthropic", "openai", "openai"]  # newest first
    assert len(team_a["result"]) == 2 and all(orjson.loads(r["metadata"]) == {"team": "a"} for r in team_a["result"])
    assert [r["status_code"] for r in failed["result"]] == [400]
    assert [r["provider"] for r in anthropic["result"]] == ["anthropic"]


async def test_listing_filters_by_cost_and_duration(gateway, sims):
    async with gateway(costs=PRICED) as gw:
        await send(gw, step("openai", "one"))
        await send(gw, step("openai", "one two three four five six seven eight nine ten"))
        await gw.gateway.log_store.flush()
        cheap, dear = sorted(gw.records, key=lambda r: r.cost)
        _, above = await call("GET", logs_url(gw) + f"?min_cost={dear.cost - 1e-9}", gw.headers)
        _, below = await call("GET", logs_url(gw) + f"?max_cost={cheap.cost + 1e-9}&min_duration=0", gw.headers)
    assert [r["id"] for r in above["result"]] == [dear.log_id] and above["result"][0]["cost"] == dear.cost
    assert [r["id"] for r in below["result"]] == [cheap.log_id]


async def test_pages_follow_the_cursor_to_the_end(gateway, sims):
    async with gateway() as gw:
        await traffic(gw)
        _, first = await call("GET", logs_url(gw) + "?per_page=2", gw.headers)
        cursor = first["result_info"]["cursor"]
        _, second = await call("GET", logs_url(gw) + f"?per_page=2&cursor={cursor}", gw.headers)
    ids = [r["id"] for r in first["result"] + second["result"]]
    assert len(first["result"]) == 2 and len(second["result"]) == 1 and second["result_info"]["cursor"] is None
    assert ids == sorted((r.log_id for r in gw.records), reverse=True)


async def test_one_log_comes_with_its_bodies(gateway, sims):
    async with gateway() as gw:
        (msg,) = await send(gw, step("openai", "one two three"))
        await gw.gateway.log_store.flush()
        log_id = msg["metadata"]["logId"]
        status, one = await call("GET", f"{logs_url(gw)}/{log_id}", gw.headers)
        async with aiohttp.ClientSession() as session, session.get(f"{logs_url(gw)}/{log_id}/response", headers=gw.headers) as resp:
            raw = await resp.read()
            content_type = resp.headers["content-type"]
    assert status == 200 and one["result"]["id"] == log_id
    assert orjson.loads(one["result"]["request_body"])["messages"][0]["content"] == "one two three"
    assert orjson.loads(one["result"]["response_body"]) == msg["response"]
    assert orjson.loads(raw) == msg["response"] and content_type == "application/json"


async def test_patch_sets_feedback_score_and_metadata(gateway, sims):
    async with gateway() as gw:
        await traffic(gw)
        target = gw.records[0].log_id
        body = {"feedback": 1, "score": 87, "metadata": {"reviewed": True}}
        status, patched = await call("PATCH", f"{logs_url(gw)}/{target}", gw.headers, data=orjson.dumps(body))
        _, liked = await call("GET", logs_url(gw) + "?feedback=1", gw.headers)
    assert status == 200 and patched["result"]["feedback"] == 1 and patched["result"]["score"] == 87
    assert orjson.loads(patched["result"]["metadata"]) == {"reviewed": True}
    assert [r["id"] for r in liked["result"]] == [target]


async def test_patch_refuses_feedback_other_than_plus_or_minus_one(gateway, sims):
    async with gateway() as gw:
        await traffic(gw)
        target = gw.records[0].log_id
        status, body = await call("PATCH", f"{logs_url(gw)}/{target}", gw.headers, data=b'{"feedback": 2}')
        bad_score, _ = await call("PATCH", f"{logs_url(gw)}/{target}", gw.headers, data=b'{"score": 101}')
    assert status == 400 and body["errors"][0]["code"] == 2010 and "feedback" in body["errors"][0]["message"]
    assert bad_score == 400


async def test_delete_removes_what_the_filter_matches(gateway, sims):
    async with gateway() as gw:
        await traffic(gw)
        status, deleted = await call("DELETE", logs_url(gw) + "?metadata.team=a", gw.headers)
        _, left = await call("GET", logs_url(gw), gw.headers)
        refused, _ = await call("DELETE", logs_url(gw), gw.headers)
    assert status == 200 and deleted["result"] == {"deleted": 2}
    assert [r["provider"] for r in left["result"]] == ["anthropic"]
    assert refused == 400  # no filter and no all=true: nothing is deleted by accident


async def test_an_unknown_parameter_is_refused_rather_than_ignored(gateway, sims):
    async with gateway() as gw:
        status, body = await call("DELETE", logs_url(gw) + "?modle=gpt-4o", gw.headers)
    assert status == 400 and "modle" in body["errors"][0]["message"]


async def test_a_token_scoped_to_another_gateway_sees_none_of_these_logs(gateway, sims):
    async with gateway(gateways={"default": {}, "other": {}}) as gw:
        await traffic(gw)
        other_token = gw.gateway.create_token("other only", gateway="other")
        other = {"cf-aig-authorization": f"Bearer {other_token}"}
        here, _ = await call("GET", logs_url(gw), other)
        status, mine = await call("GET", logs_url(gw, "other"), other)
        by_id, _ = await call("GET", f"{logs_url(gw, 'other')}/{gw.records[0].log_id}", other)
    assert here == 401
    assert status == 200 and mine["result"] == []
    assert by_id == 404  # a default-gateway log id does not exist under "other"


async def test_the_logs_api_needs_a_token(gateway, sims):
    async with gateway() as gw:
        status, body = await call("GET", logs_url(gw), {})
    assert status == 401 and body["errors"][0]["code"] == 2009
