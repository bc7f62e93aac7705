"""A stream relayed to an HTTP client is consumed natively, one call a read
(`_codec.HttpStreamConsumers`, rust/src/python/http_stream.rs), as `HttpSink.relay`'s `consume`
closure consumes it: the same bytes to the client, the same log row, the same framing for an
HTTP/1.0 client. The closure (and `ResponseWriter.write`) serves every other response."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest
from doors import chat, session, sse_data

from aigw import _codec
from aigw.api import http_sink
from aigw.server.http import JOIN_LIMIT, HttpConnection
from aigw.server.http_response import ENDED, STARTED, ResponseWriter


class _Declining:
    @staticmethod
    def make(response, collected, tap):
        return None


@pytest.fixture(params=["native", "closure"])
def consume_path(request, monkeypatch):
    """Which code consumes a relayed stream's reads: the native builtin, or the closure."""
    made = []
    real = http_sink._STREAMS

    class Counting:
        @staticmethod
        def make(response, collected, tap):
            consume = real.make(response, collected, tap)
            made.append(consume is not None)
            return consume

    monkeypatch.setattr(http_sink, "_STREAMS", Counting if request.param == "native" else _Declining)
    return request.param, made


def contents(body: bytes) -> list[str]:
    """The text deltas of an OpenAI chat completions stream."""
    import orjson

    out = []
    for data in sse_data(body):
        if data != b"[DONE]":
            out += [c["delta"].get("content") or "" for c in orjson.loads(data)["choices"]]
    return out


async def test_a_stream_and_its_log_row_are_the_same_through_either_consume(gateway, sims, consume_path):
    path, made = consume_path
    async with gateway() as gw, session() as http:
        url = gw.http_url + "/openai/chat/completions"
        async with http.post(url, json=chat("one two three four five", stream=True), headers=gw.headers) as resp:
            assert resp.status == 200 and resp.headers["transfer-encoding"] == "chunked"
            body = await resp.read()
        await gw.stop()
    assert "".join(contents(body)) == "one two three four five"
    assert body.endswith(b"data: [DONE]\n\n")
    (record,) = gw.records
    assert record.success and record.response_body == body
    assert made == ([True] if path == "native" else [])


async def test_an_http10_client_gets_the_stream_unframed_to_the_close(gateway, sims, consume_path):
    path, made = consume_path
    async with gateway() as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        import orjson

        body = orjson.dumps(chat("ten four", stream=True))
        target = urlsplit(gw.http_url).path.encode() + b"/openai/chat/completions"
        head = b"POST " + target + b" HTTP/1.0\r\ncontent-type: application/json\r\ncontent-length: %d\r\n" % len(body)
        head += b"".join(b"%s: %s\r\n" % (k.encode(), v.encode()) for k, v in gw.headers.items())
        writer.write(head + b"\r\n" + body)
        answer = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    status, rest = answer.split(b"\r\n", 1)
    fields, streamed = rest.split(b"\r\n\r\n", 1)
    assert status.startswith(b"HTTP/1.") and status.split()[1] == b"200"
    assert b"transfer-encoding" not in fields.lower()
    assert "".join(contents(streamed)) == "ten four" and streamed.endswith(b"data: [DONE]\n\n")
    assert made == ([True] if path == "native" else [])


def test_make_declines_a_response_that_is_not_the_servers_writer():
    class Writer:
        _channel = None

    assert http_sink._STREAMS.make(Writer(), None, None) is None


def test_the_consumers_refuse_classes_without_the_slots_they_use():
    with pytest.raises(ValueError):
        _codec.HttpStreamConsumers((HttpConnection, ResponseWriter), (STARTED, ENDED), JOIN_LIMIT)
