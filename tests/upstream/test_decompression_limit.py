"""A compressed response body is bounded while it is inflated, not after: a small body that
inflates to far more than max_body_size is refused with UpstreamBodyTooLarge (an UpstreamError,
so the gateway treats it as an upstream failure) after at most the limit plus one inflate step
of memory, by read() and by iter_chunks() alike."""

from __future__ import annotations

import functools
import os
import tracemalloc
import zlib

import pytest
from aiohttp import web

from aigw.upstream import UpstreamBodyTooLarge, UpstreamClient, UpstreamError

LIMIT = 1024 * 1024
STEP = 256 * 1024  # the client's default buffer limit: the most one inflate step produces
BOMB_SIZE = 64 * 1024 * 1024  # inflated; ~64 KiB on the wire


@functools.cache
def compressed(coding: str, size: int, random: bool = False) -> bytes:
    """`size` bytes (zeros: a bomb; or incompressible-ish text) encoded with `coding`."""
    obj = zlib.compressobj(6, zlib.DEFLATED, 31 if coding == "gzip" else 15)
    block = os.urandom(32 * 1024).hex().encode() if random else bytes(1024 * 1024)
    out = []
    for _ in range(size // len(block)):
        out.append(obj.compress(block))
    out.append(obj.flush())
    return b"".join(out)


def app_serving(body: bytes, coding: str) -> web.Application:
    async def handler(request):
        return web.Response(body=body, headers={"Content-Encoding": coding, "Content-Type": "application/json"})

    app = web.Application()
    app.router.add_get("/", handler)
    return app


def busy_connections(client: UpstreamClient) -> int:
    return sum(v[0] - v[1] for v in client.stats().values())


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_read_refuses_a_compression_bomb_while_inflating(coding, aiohttp_server):
    bomb = compressed(coding, BOMB_SIZE)
    assert len(bomb) < 256 * 1024
    async with aiohttp_server(app_serving(bomb, coding)) as base, UpstreamClient(max_body_size=LIMIT) as client:
        resp = await client.request("GET", base + "/")
        tracemalloc.start()
        try:
            with pytest.raises(UpstreamBodyTooLarge) as refused:
                await resp.read()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert isinstance(refused.value, UpstreamError)
        assert str(LIMIT) in str(refused.value)
        assert peak < 2 * LIMIT + STEP, peak  # the parts kept (≤ limit), one step, one join
        assert busy_connections(client) == 0


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_iter_chunks_refuses_a_compression_bomb_while_inflating(coding, aiohttp_server):
    bomb = compressed(coding, BOMB_SIZE)
    async with aiohttp_server(app_serving(bomb, coding)) as base, UpstreamClient(max_body_size=LIMIT) as client:
        resp = await client.request("GET", base + "/")
        sizes = []
        with pytest.raises(UpstreamBodyTooLarge) as refused:
            async for chunk in resp.iter_chunks():
                sizes.append(len(chunk))
        assert str(LIMIT) in str(refused.value)
        assert max(sizes) <= STEP
        assert sum(sizes) <= LIMIT
        assert busy_connections(client) == 0


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
async def test_a_compressed_body_larger_than_one_step_decodes_whole(coding, aiohttp_server):
    size = 2 * 1024 * 1024
    body = compressed(coding, size, random=True)
    expected = zlib.decompress(body, 31 if coding == "gzip" else 15)
    assert len(expected) == size
    async with aiohttp_server(app_serving(body, coding)) as base, UpstreamClient(max_body_size=4 * LIMIT) as client:
        assert await (await client.request("GET", base + "/")).read() == expected
        resp = await client.request("GET", base + "/")
        chunks = [c async for c in resp.iter_chunks()]
        assert b"".join(chunks) == expected
        assert max(len(c) for c in chunks) <= STEP


async def test_a_compressed_body_of_exactly_the_limit_is_accepted(aiohttp_server):
    body = compressed("gzip", LIMIT)
    async with aiohttp_server(app_serving(body, "gzip")) as base, UpstreamClient(max_body_size=LIMIT) as client:
        assert await (await client.request("GET", base + "/")).read() == bytes(LIMIT)
        resp = await client.request("GET", base + "/")
        assert sum([len(c) async for c in resp.iter_chunks()]) == LIMIT
