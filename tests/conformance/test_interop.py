"""Interop: real third-party clients (websockets, aiohttp, picows) exchange messages with the echo
server over ws:// and wss://, on uvloop and stock asyncio, and get every message back intact.

What each client can do decides what it is asked to do: aiohttp has no API to send a fragmented
message, picows has no permessage-deflate; those combinations are not generated.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import aiohttp
import picows
import pytest
import websockets.asyncio.client

from .conftest import echo_server

TEXT, BINARY = 1, 2
SIXTEEN_MIB = 16 * 1024 * 1024


class WebsocketsClient:
    """websockets' asyncio client: messages, fragmented messages (an iterable), deflate."""

    fragments = compression = True

    def __init__(self, url, ssl_context, compress):
        self.connect = websockets.asyncio.client.connect(
            url, ssl=ssl_context, max_size=None, compression="deflate" if compress else None, ping_interval=None
        )

    async def __aenter__(self):
        self.ws = await self.connect.__aenter__()
        return self

    async def __aexit__(self, *exc):
        await self.connect.__aexit__(*exc)

    def negotiated_deflate(self) -> bool:
        return bool(self.ws.protocol.extensions)

    async def send(self, opcode, pieces: list[bytes]):
        # text=True sends UTF-8 bytes as text frames, so fragments may split a character.
        await self.ws.send(pieces[0] if len(pieces) == 1 else pieces, text=opcode == TEXT)

    async def recv(self):
        message = await self.ws.recv()
        return (TEXT, message.encode()) if isinstance(message, str) else (BINARY, message)


class AiohttpClient:
    """aiohttp's client: whole messages only, deflate."""

    fragments, compression = False, True

    def __init__(self, url, ssl_context, compress):
        self.url, self.ssl, self.compress = url, ssl_context if ssl_context else False, compress

    async def __aenter__(self):
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(
            self.url, ssl=self.ssl, compress=15 if self.compress else 0, max_msg_size=0, autoping=True
        )
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.session.close()

    def negotiated_deflate(self) -> bool:
        return bool(self.ws.compress)

    async def send(self, opcode, pieces):
        assert len(pieces) == 1
        if opcode == TEXT:
            await self.ws.send_str(pieces[0].decode())
        else:
            await self.ws.send_bytes(pieces[0])

    async def recv(self):
        msg = await self.ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            return TEXT, msg.data.encode()
        assert msg.type == aiohttp.WSMsgType.BINARY, msg
        return BINARY, msg.data


class PicowsClient:
    """picows: raw frames (fragmented messages by hand); no permessage-deflate."""

    fragments, compression = True, False

    def __init__(self, url, ssl_context, compress):
        assert not compress
        self.url, self.ssl = url, ssl_context

    async def __aenter__(self):
        messages = self.messages = asyncio.Queue()

        class Listener(picows.WSListener):
            parts: list[bytes] = []
            opcode = None

            def on_ws_frame(self, transport, frame):
                if frame.msg_type in (picows.WSMsgType.TEXT, picows.WSMsgType.BINARY):
                    self.opcode, self.parts = int(frame.msg_type), []
                elif frame.msg_type != picows.WSMsgType.CONTINUATION:
                    return  # control frames: picows answers pings itself
                self.parts.append(frame.get_payload_as_bytes())
                if frame.fin:
                    messages.put_nowait((self.opcode, b"".join(self.parts)))

            def on_ws_disconnected(self, transport):
                messages.put_nowait(None)

        self.transport, _ = await picows.ws_connect(
            Listener, self.url, ssl_context=self.ssl, max_frame_size=2 * SIXTEEN_MIB
        )
        return self

    async def __aexit__(self, *exc):
        self.transport.send_close(picows.WSCloseCode.OK)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.transport.wait_disconnected(), 5)
        self.transport.disconnect()

    async def send(self, opcode, pieces):
        for i, piece in enumerate(pieces):
            msg_type = picows.WSMsgType(opcode) if i == 0 else picows.WSMsgType.CONTINUATION
            self.transport.send(msg_type, piece, fin=i == len(pieces) - 1)

    async def recv(self):
        message = await self.messages.get()
        assert message is not None, "the server disconnected"
        return message


CLIENTS = {"websockets": WebsocketsClient, "aiohttp": AiohttpClient, "picows": PicowsClient}

# name -> (opcode, pieces): one piece is one frame; several make a fragmented message.
MESSAGES = {
    "text": (TEXT, ["héllo wörld, κόσμε 🌍".encode()]),
    "binary": (BINARY, [bytes(range(256)) * 4]),
    "empty_text": (TEXT, [b""]),
    "fragmented_text": (TEXT, [b"frag", "m\u00e9".encode()[:2], "m\u00e9".encode()[2:] + b"nted", b""]),
    "fragmented_binary": (BINARY, [b"\x00" * 70000, b"\x01" * 125, b"\x02" * 126]),
    "16MiB_binary": (BINARY, [os.urandom(SIXTEEN_MIB)]),
    "16MiB_text": (TEXT, [b"x" * SIXTEEN_MIB]),
}


def cases():
    for client, cls in CLIENTS.items():
        for name, (opcode, pieces) in MESSAGES.items():
            for compress in (False, True):
                if compress and not cls.compression or len(pieces) > 1 and not cls.fragments:
                    continue
                yield pytest.param(client, name, compress, id=f"{client}-{name}{'-deflate' if compress else ''}")


@pytest.fixture(params=["ws", "wss"])
def scheme(request):
    return request.param


@pytest.mark.parametrize("client,message,compress", list(cases()))
async def test_client_gets_its_message_echoed(client, message, compress, scheme, server_ssl, client_ssl):
    opcode, pieces = MESSAGES[message]
    tls = scheme == "wss"
    async with echo_server(ssl_context=server_ssl if tls else None, permessage_deflate=True) as server:
        async with CLIENTS[client](server.url, client_ssl if tls else None, compress) as ws:
            if compress:
                assert ws.negotiated_deflate(), "the server did not accept permessage-deflate"
            await ws.send(opcode, pieces)
            await ws.send(opcode, pieces)  # twice: a second message on the same connection
            expected = (opcode, b"".join(pieces))
            assert await asyncio.wait_for(ws.recv(), 60) == expected
            assert await asyncio.wait_for(ws.recv(), 60) == expected
