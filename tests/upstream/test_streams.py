"""SSE and NDJSON framing over real streamed responses."""

import asyncio

import pytest
from aiohttp import web

from aigw.upstream import UpstreamClient, UpstreamProtocolError, UpstreamStreamTruncated, ndjson_lines, sse_events


def streaming_app(pieces: list[bytes], content_type: str) -> web.Application:
    """An app whose /stream writes `pieces` one network write at a time."""

    async def stream(request):
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        for p in pieces:
            await resp.write(p)
            await asyncio.sleep(0.005)
        return resp

    app = web.Application()
    app.router.add_get("/stream", stream)
    return app


async def collect_events(base):
    async with UpstreamClient() as client:
        resp = await client.request("GET", base + "/stream")
        return [batch async for batch in sse_events(resp)]


async def test_sse_events_come_in_batches_per_read_whatever_the_splits(aiohttp_server):
    pieces = [b"data: {\"a\"", b":1}\r", b"\n\r\n: keep-alive\n\nevent: done\ndata: \xe2\x82", b"\xac\n\n"]
    async with aiohttp_server(streaming_app(pieces, "text/event-stream")) as base:
        batches = await collect_events(base)
    assert [e for b in batches for e in b] == [(None, b'{"a":1}', None), ("done", "€".encode(), None)]
    assert all(batches)


async def test_sse_stream_cut_inside_an_event_is_truncated(aiohttp_server):
    pieces = [b"data: one\n\n", b"data: tw"]
    async with aiohttp_server(streaming_app(pieces, "text/event-stream")) as base:
        async with UpstreamClient() as client:
            resp = await client.request("GET", base + "/stream")
            seen = []
            with pytest.raises(UpstreamStreamTruncated):
                async for batch in sse_events(resp):
                    seen += batch
    assert seen == [(None, b"one", None)]


async def test_sse_event_over_the_limit_is_a_protocol_error(aiohttp_server):
    pieces = [b"data: " + b"x" * 5000 + b"\n\n"]
    async with aiohttp_server(streaming_app(pieces, "text/event-stream")) as base:
        async with UpstreamClient() as client:
            resp = await client.request("GET", base + "/stream")
            with pytest.raises(UpstreamProtocolError):
                async for _ in sse_events(resp, max_event_size=1000):
                    pass


async def test_ndjson_lines_including_a_final_unterminated_one(aiohttp_server):
    pieces = [b'{"a":1}\n{"b"', b':2}\r\n\n{"done":true}']
    async with aiohttp_server(streaming_app(pieces, "application/x-ndjson")) as base:
        async with UpstreamClient() as client:
            resp = await client.request("GET", base + "/stream")
            lines = [line async for batch in ndjson_lines(resp) for line in batch]
    assert lines == [b'{"a":1}', b'{"b":2}', b'{"done":true}']
