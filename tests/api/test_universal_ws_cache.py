"""Caching behind the Universal WebSocket API (cloudflare-aigw.md §5.1, §6 "Caching"):
`cf-aig-cache-ttl` stores a non-streamed answer, an identical request is answered from the cache
(`cacheStatus: HIT`) without reaching the provider, `cf-aig-skip-cache` bypasses the lookup, a
different body misses, and nothing is looked up or stored while caching is off."""

from __future__ import annotations

from universal_ws_helpers import answer, connect, create, step


async def ask(ws, event_id: str, prompt: str = "cache me", headers=None, stream: bool = False) -> dict:
    await ws.send(create(step("openai", prompt, headers=headers, event_id=event_id, stream=stream)))
    return (await answer(ws))[-1]


async def test_an_identical_request_is_answered_from_the_cache(gateway, sims):
    ttl = {"cf-aig-cache-ttl": "60"}
    async with gateway() as gw, connect(gw) as ws:
        first = await ask(ws, "a", headers=ttl)
        second = await ask(ws, "b", headers=ttl)
    assert first["metadata"]["cacheStatus"] == "MISS" and second["metadata"]["cacheStatus"] == "HIT"
    assert second["response"] == first["response"] and second["metadata"]["eventId"] == "b"
    assert len(sims["openai"].requests) == 1


async def test_skip_cache_goes_to_the_provider(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ask(ws, "a", headers={"cf-aig-cache-ttl": "60"})
        skipped = await ask(ws, "b", headers={"cf-aig-cache-ttl": "60", "cf-aig-skip-cache": "true"})
    assert skipped["metadata"]["cacheStatus"] == "MISS"
    assert len(sims["openai"].requests) == 2


async def test_a_different_body_misses(gateway, sims):
    ttl = {"cf-aig-cache-ttl": "60"}
    async with gateway() as gw, connect(gw) as ws:
        await ask(ws, "a", "one prompt", headers=ttl)
        other = await ask(ws, "b", "another prompt", headers=ttl)
    assert other["metadata"]["cacheStatus"] == "MISS"
    assert len(sims["openai"].requests) == 2


async def test_nothing_is_cached_while_caching_is_off(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ask(ws, "a")
        again = await ask(ws, "b")
    assert again["metadata"]["cacheStatus"] == "MISS"
    assert len(sims["openai"].requests) == 2


async def test_a_cache_key_shares_answers_between_different_bodies(gateway, sims):
    async with gateway() as gw, connect(gw) as ws:
        await ask(ws, "a", "first wording", headers={"cf-aig-cache-key": "greeting"})
        hit = await ask(ws, "b", "second wording", headers={"cf-aig-cache-key": "greeting"})
    assert hit["metadata"]["cacheStatus"] == "HIT"
    assert len(sims["openai"].requests) == 1


async def test_streamed_answers_are_not_cached(gateway, sims):
    ttl = {"cf-aig-cache-ttl": "60"}
    async with gateway() as gw, connect(gw) as ws:
        await ask(ws, "a", headers=ttl, stream=True)
        again = await ask(ws, "b", headers=ttl, stream=True)
    assert again["metadata"]["cacheStatus"] == "MISS"
    assert len(sims["openai"].requests) == 2
