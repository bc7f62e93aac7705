"""Giving up on a request releases its connection at once, on every path; and one owner (a
client connection of the gateway) cannot hold more than its share of a host's pool, nor make
other owners wait behind its whole queue."""

from __future__ import annotations

import asyncio
import contextlib
import gc

import pytest
from aiohttp import web

from aigw.upstream import ConnectTimeout, UpstreamClient


def open_connections(client: UpstreamClient) -> int:
    return sum(v[0] for v in client.stats().values())


def waiting(client: UpstreamClient) -> int:
    return sum(v[2] for v in client.stats().values())


async def until(predicate, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.005)


def stream_app(seen: list[str] | None = None) -> web.Application:
    """/stream: a head and a big first chunk, then nothing for 5 s; /slow-head: no head for
    5 s; /hello: at once. Each request's `?tag=` is recorded in `seen` when it arrives."""

    async def stream(request):
        if seen is not None:
            seen.append(request.query.get("tag", ""))
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"x" * (512 * 1024))  # more than the client's buffer limit: reading pauses
        await asyncio.sleep(5)
        return resp

    async def slow_head(request):
        if seen is not None:
            seen.append(request.query.get("tag", ""))
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def hello(request):
        if seen is not None:
            seen.append(request.query.get("tag", ""))
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/stream", stream)
    app.router.add_get("/slow-head", slow_head)
    app.router.add_get("/hello", hello)
    return app


# ---- every way of giving up frees the connection -----------------------------------------


async def test_a_reader_cancelled_while_it_holds_a_paused_response_frees_the_connection(aiohttp_server):
    """The relay's shape: a consumer paused on something else (the client's socket) while the
    upstream response is paused by flow control, then cancelled. Nothing closes the response
    explicitly: dropping it must be enough."""
    stuck = asyncio.Event()

    async def relay(client, base):
        resp = await client.request("GET", base + "/stream")
        async for _chunk in resp.iter_chunks():
            stuck.set()
            await asyncio.Event().wait()  # the client never drains

    async with aiohttp_server(stream_app()) as base, UpstreamClient(buffer_limit=64 * 1024) as client:
        task = asyncio.ensure_future(relay(client, base))
        await asyncio.wait_for(stuck.wait(), 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        del task
        gc.collect()
        await until(lambda: open_connections(client) == 0)


async def test_a_dropped_unfinished_response_frees_its_connection(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        assert open_connections(client) == 1
        del resp
        await until(lambda: open_connections(client) == 0)


async def test_closing_the_chunk_iterator_early_frees_the_connection(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        async with contextlib.aclosing(resp.iter_chunks()) as chunks:
            async for _chunk in chunks:
                break
        assert open_connections(client) == 0


async def test_a_request_cancelled_while_waiting_for_the_head_hands_its_slot_to_a_queued_one(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_host=1) as client:
        first = asyncio.ensure_future(client.request("GET", base + "/slow-head"))
        await until(lambda: open_connections(client) == 1)
        queued = asyncio.ensure_future(client.request("GET", base + "/hello", connect_timeout=2))
        await until(lambda: waiting(client) == 1)
        first.cancel()
        resp = await asyncio.wait_for(queued, 1)
        assert await resp.read() == b"hello"


async def test_a_request_cancelled_in_the_pool_queue_leaves_it(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_host=1) as client:
        holder = await client.request("GET", base + "/stream")
        queued = asyncio.ensure_future(client.request("GET", base + "/hello"))
        await until(lambda: waiting(client) == 1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert waiting(client) == 0
        holder.close()
        assert open_connections(client) == 0


async def test_a_slot_freed_for_a_request_cancelled_at_that_moment_goes_to_the_next_in_line(aiohttp_server):
    """The slot is handed to the first waiter, which is cancelled before it runs: the slot must
    not be lost with it (the second waiter would wait until its connect timeout)."""
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_host=1) as client:
        holder = await client.request("GET", base + "/stream")
        first = asyncio.ensure_future(client.request("GET", base + "/hello"))
        await until(lambda: waiting(client) == 1)
        second = asyncio.ensure_future(client.request("GET", base + "/hello", connect_timeout=1.5))
        await until(lambda: waiting(client) == 2)
        holder.close()  # frees the only slot: handed to `first` ...
        first.cancel()  # ... which gives up in the same loop iteration
        resp = await asyncio.wait_for(second, 1)
        assert await resp.read() == b"hello"
        with pytest.raises(asyncio.CancelledError):
            await first


# ---- one owner's share -------------------------------------------------------------------


async def test_one_owner_holds_at_most_its_share_of_a_hosts_pool(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_host=4, max_connections_per_owner=2) as client:
        hog = [asyncio.ensure_future(client.request("GET", base + "/slow-head", owner="a")) for _ in range(6)]
        await until(lambda: waiting(client) == 4)
        assert client.owner_connections("a") == 2 and open_connections(client) == 2
        resp = await asyncio.wait_for(client.request("GET", base + "/hello", owner="b"), 1)
        assert await resp.read() == b"hello"
        for t in hog:
            t.cancel()
        await asyncio.gather(*hog, return_exceptions=True)
        assert client.owner_connections("a") == 0 and waiting(client) == 0


async def test_an_owner_at_its_share_waits_for_one_of_its_own_requests_to_finish(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_owner=1) as client:
        first = await client.request("GET", base + "/stream", owner="a")
        second = asyncio.ensure_future(client.request("GET", base + "/hello", owner="a"))
        await until(lambda: waiting(client) == 1)
        assert open_connections(client) == 1  # the pool had room, the owner had none
        first.close()
        resp = await asyncio.wait_for(second, 1)
        assert await resp.read() == b"hello"
        assert client.owner_connections("a") == 0


async def test_an_owners_share_is_released_when_its_response_ends_normally(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_owner=1) as client:
        for _ in range(3):
            resp = await asyncio.wait_for(client.request("GET", base + "/hello", owner="a"), 1)
            assert await resp.read() == b"hello"
            assert client.owner_connections("a") == 0
        assert open_connections(client) == 1  # one keep-alive connection, reused


async def test_queued_requests_are_served_round_robin_by_owner(aiohttp_server):
    seen: list[str] = []
    async with aiohttp_server(stream_app(seen)) as base, UpstreamClient(max_connections_per_host=1) as client:
        holder = await client.request("GET", base + "/stream?tag=hold", owner="a")
        tasks = []
        for tag, owner in (("a1", "a"), ("a2", "a"), ("a3", "a"), ("b1", "b")):
            tasks.append(asyncio.ensure_future(client.request("GET", base + f"/hello?tag={tag}", owner=owner)))
            await until(lambda: waiting(client) == len(tasks))
        holder.close()
        for t in tasks:
            await (await asyncio.wait_for(t, 2)).read()
        assert seen == ["hold", "a1", "b1", "a2", "a3"]


async def test_waiting_for_an_owners_share_counts_against_the_connect_timeout(aiohttp_server):
    async with aiohttp_server(stream_app()) as base, UpstreamClient(max_connections_per_owner=1) as client:
        holder = await client.request("GET", base + "/stream", owner="a")
        with pytest.raises(ConnectTimeout):
            await client.request("GET", base + "/hello", owner="a", connect_timeout=0.1)
        assert waiting(client) == 0
        holder.close()
