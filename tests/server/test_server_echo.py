"""The echo app over real sockets with real clients (websockets, aiohttp), ws:// and wss://."""

import aiohttp
import pytest
import websockets

from aigw.server import serve
from aigw.server.echo import EchoApp, echo_settings

BIG = 16 * 1024 * 1024


@pytest.fixture
async def echo_server():
    async with await serve(EchoApp(), settings=echo_settings()) as server:
        yield server


@pytest.fixture
async def tls_echo_server(tls_contexts):
    async with await serve(EchoApp(), ssl=tls_contexts[0], settings=echo_settings()) as server:
        yield server


async def test_text_is_echoed_as_text_and_binary_as_binary(echo_server):
    async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/", compression=None) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff")
        assert await ws.recv() == b"\x00\xff"


async def test_a_fragmented_message_is_echoed_whole(echo_server):
    async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/", compression=None) as ws:
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented"


async def test_a_16_mib_message_round_trips_with_websockets(echo_server):
    payload = bytes(range(256)) * (BIG // 256)
    async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/", max_size=None, compression=None) as ws:
        await ws.send(payload)
        assert await ws.recv() == payload


async def test_large_and_small_messages_echo_in_order(echo_server):
    big = bytes(range(256)) * 512  # 128 KiB: sent by reference, between small frames
    async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/", max_size=None, compression=None) as ws:
        for message in ("a", big, "b", big, big, "c"):
            await ws.send(message)
        assert [await ws.recv() for _ in range(6)] == ["a", big, "b", big, big, "c"]


async def test_a_16_mib_message_round_trips_with_aiohttp(echo_server):
    payload = b"a" * BIG
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(f"ws://127.0.0.1:{echo_server.port}/", max_msg_size=0) as ws:
            await ws.send_bytes(payload)
            message = await ws.receive()
            assert message.type is aiohttp.WSMsgType.BINARY and message.data == payload
            await ws.send_str("small")
            assert (await ws.receive()).data == "small"


async def test_a_message_over_the_limit_closes_with_1009():
    settings = echo_settings(max_message_size=1024)
    async with await serve(EchoApp(), settings=settings) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", compression=None) as ws:
            await ws.send(b"x" * 1025)
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 1009


async def test_deflate_is_negotiated_and_messages_round_trip(echo_server):
    async with websockets.connect(f"ws://127.0.0.1:{echo_server.port}/", compression="deflate") as ws:
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        text = "compress me " * 1000
        await ws.send(text)
        assert await ws.recv() == text
        await ws.send(b"\x00" * 70000)
        assert await ws.recv() == b"\x00" * 70000


async def test_deflate_is_not_negotiated_when_disabled():
    async with await serve(EchoApp(), settings=echo_settings(permessage_deflate=False)) as server:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/", compression="deflate") as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("plain")
            assert await ws.recv() == "plain"


async def test_wss_echo_with_websockets(tls_echo_server, tls_contexts):
    url = f"wss://127.0.0.1:{tls_echo_server.port}/"
    async with websockets.connect(url, ssl=tls_contexts[1], max_size=None) as ws:
        await ws.send("secure")
        assert await ws.recv() == "secure"
        payload = b"b" * BIG
        await ws.send(payload)
        assert await ws.recv() == payload


async def test_wss_echo_with_aiohttp(tls_echo_server, tls_contexts):
    url = f"wss://127.0.0.1:{tls_echo_server.port}/"
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, ssl=tls_contexts[1], max_msg_size=0) as ws:
            await ws.send_str("secure")
            assert (await ws.receive()).data == "secure"
            await ws.send_bytes(b"\x01" * 100000)
            assert (await ws.receive()).data == b"\x01" * 100000


async def test_plain_http_is_answered_on_the_same_port(echo_server):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{echo_server.port}/echo", data=b"body") as response:
            assert response.status == 200
            assert await response.read() == b"body"
