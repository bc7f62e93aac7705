"""`server.batch_window_us`: while the process relays at least `server.batch_min_streams`
streams to Universal WebSocket clients, the gateway spaces its loop's turns
(aigw.server.turn_batching). Every stream still arrives whole and in order, the spacing runs
while the crowd relays, the streams are counted while they relay and not after, and stopping
the gateway undoes it."""

from __future__ import annotations

import orjson
from universal_ws_helpers import answers, connect, create, step

from aigw.api.universal_ws import STREAMS

CROWD = 6  # streams on one connection


def texts(messages: list[dict]) -> list[str]:
    """The text deltas of a stream's `universal.stream` messages, in order."""
    return [choice["delta"].get("content", "") for m in messages if m["type"] == "universal.stream" for choice in m["response"]["choices"]]


async def relay_crowd(gw) -> dict[str, list[dict]]:
    async with connect(gw) as ws:
        for i in range(CROWD):
            await ws.send(create(step("openai", stream=True, event_id=f"s{i}")))
        return await answers(ws, CROWD, timeout=30)


async def test_a_crowd_of_streams_arrives_whole_with_the_turns_spaced(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 30, 0.002
    async with gateway() as gw:
        plain = await relay_crowd(gw)
    async with gateway(server={"batch_window_us": 300, "batch_min_streams": 3}) as gw:
        batcher = gw.gateway.turn_batcher
        spaced = await relay_crowd(gw)
        assert batcher.turns > 0 and batcher.slept > 0
    assert gw.gateway.turn_batcher is None  # stopped: undone
    assert sorted(spaced) == sorted(plain) == [f"s{i}" for i in range(CROWD)]
    for event_id in plain:
        assert spaced[event_id][-1]["type"] == "universal.done" and "error" not in spaced[event_id][-1]["metadata"]
        assert texts(spaced[event_id]) == texts(plain[event_id])
        assert len(texts(plain[event_id])) >= 30


async def test_without_a_window_no_batcher_runs(gateway, sims):
    async with gateway() as gw:
        assert gw.gateway.turn_batcher is None


async def test_a_stopped_gateway_no_longer_watches_the_stream_count(gateway, sims):
    before = STREAMS.watchers
    async with gateway(server={"batch_window_us": 300, "batch_min_streams": 1}) as gw:
        assert STREAMS.watchers == (*before, (1, gw.gateway.turn_batcher.start))
    assert STREAMS.watchers == before


async def test_the_streams_are_counted_while_they_relay_and_not_after(gateway, sims):
    sims["openai"].chunks, sims["openai"].chunk_delay = 20, 0.005
    before = STREAMS.relaying
    seen = []
    async with gateway() as gw, connect(gw) as ws:
        for i in range(3):
            await ws.send(create(step("openai", stream=True, event_id=f"s{i}")))
        while len(seen) < 3:  # every stream started
            message = orjson.loads(await ws.recv())
            if message["type"] == "universal.stream" and message["metadata"]["eventId"] not in seen:
                seen.append(message["metadata"]["eventId"])
        assert STREAMS.relaying == before + 3
        await answers(ws, 3, timeout=30)
        assert STREAMS.relaying == before
