"""Bad input over real sockets: broken or hostile handshakes get the right HTTP status and a
closed connection; protocol violations get the right close code; a peer that stops reading
cannot make the server buffer without bound. In every case a healthy connection opened before
the attack keeps working afterwards, and the server still accepts new ones.

The raw client below speaks just enough HTTP and WebSocket to misbehave on purpose; what the
server sends back is parsed with the reference codec (tests/reference_codec.py) as a client.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import struct
import sys
import zlib
from pathlib import Path

import psutil
import pytest
import websockets.asyncio.client

from .conftest import echo_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from reference_codec import BINARY, CLOSE, CONTINUATION, FAIL, TEXT, ReferenceCodec, serialize_frame  # noqa: E402

TIMEOUT = 10  # generous: a broken server shows up as a hang, not as slowness


# ---- a raw, deliberately misbehaving client --------------------------------------------------


def upgrade_request(*, version: bytes = b"13", key: bytes | None = None, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    key = base64.b64encode(os.urandom(16)) if key is None else key
    lines = [method + b" /v1/acct/default HTTP/1.1", b"Host: 127.0.0.1", b"Upgrade: websocket", b"Connection: Upgrade"]
    if version:
        lines.append(b"Sec-WebSocket-Version: " + version)
    if key:
        lines.append(b"Sec-WebSocket-Key: " + key)
    return b"\r\n".join(lines) + b"\r\n" + extra + b"\r\n"


async def http_exchange(port: int, data: bytes) -> tuple[int, bytes]:
    """Send `data`, read until the server closes; returns (status, whole response)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        response = await asyncio.wait_for(reader.read(-1), TIMEOUT)  # -1: until EOF, i.e. closed
    finally:
        writer.close()
    status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/1.1 ") else 0
    return status, response


class RawWebSocket:
    """An upgraded connection on which any bytes can be sent."""

    def __init__(self, reader, writer, head: bytes) -> None:
        self.reader, self.writer, self.head = reader, writer, head
        self.parser = ReferenceCodec(client=True, max_message_size=1 << 30)

    @classmethod
    async def connect(cls, port: int, *, extensions: bytes = b"") -> RawWebSocket:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request(extra=b"Sec-WebSocket-Extensions: " + extensions + b"\r\n" if extensions else b""))
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101 "), head
        return cls(reader, writer, head)

    def send_frame(self, opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0, masked: bool = True) -> None:
        self.writer.write(serialize_frame(opcode, payload, fin=fin, rsv=rsv, mask=os.urandom(4) if masked else None))

    async def close_code(self) -> int:
        """Read what the server sends until its close frame; return the close code. The
        server then closes TCP (RFC 6455 §7.1.1), which is checked too."""
        while True:
            data = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            assert data, "the server closed TCP without a close frame"
            for event in self.parser.receive_data(data):
                assert event[0] != FAIL, f"the server sent an invalid frame: {event}"
                if event[0] == CLOSE:
                    code = event[1]
                    # The server may already have reset the connection (it closed while our
                    # unread frames were in flight): then there is nothing left to answer.
                    if not self.writer.transport.is_closing():
                        self.writer.write(serialize_frame(CLOSE, struct.pack("!H", code), mask=os.urandom(4)))
                    with contextlib.suppress(ConnectionError):
                        assert await asyncio.wait_for(self.reader.read(-1), TIMEOUT) == b""
                    return code

    def close(self) -> None:
        self.writer.close()


# ---- the healthy bystander -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def server_under_attack(**settings):
    """An echo server with one healthy client connected before the attack; on the way out,
    that client must still get echoes and a brand new connection must work too."""
    async with echo_server(**settings) as server:
        async with websockets.asyncio.client.connect(server.url, ping_interval=None) as healthy:
            await healthy.send("before")
            assert await asyncio.wait_for(healthy.recv(), TIMEOUT) == "before"
            yield server
            await healthy.send("after")
            assert await asyncio.wait_for(healthy.recv(), TIMEOUT) == "after"
        async with websockets.asyncio.client.connect(server.url, ping_interval=None) as fresh:
            await fresh.send(b"still serving")
            assert await asyncio.wait_for(fresh.recv(), TIMEOUT) == b"still serving"


# ---- broken handshakes -----------------------------------------------------------------------


async def test_garbage_instead_of_a_request_head_gets_400_and_close():
    async with server_under_attack() as server:
        status, _ = await http_exchange(server.port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n")
        assert status == 400


async def test_oversized_request_head_gets_431_and_close():
    async with server_under_attack() as server:
        head = upgrade_request(extra=b"X-Padding: " + b"a" * 20000 + b"\r\n")
        status, _ = await http_exchange(server.port, head)
        assert status == 431


async def test_oversized_request_head_is_refused_before_it_ends():
    async with server_under_attack() as server:
        status, _ = await http_exchange(server.port, b"GET / HTTP/1.1\r\nX-Padding: " + b"a" * 40000)
        assert status == 431


async def test_wrong_websocket_version_gets_426_naming_version_13():
    async with server_under_attack() as server:
        status, response = await http_exchange(server.port, upgrade_request(version=b"8"))
        assert status == 426
        assert b"sec-websocket-version: 13" in response.lower()


async def test_missing_websocket_key_gets_400():
    async with server_under_attack() as server:
        status, _ = await http_exchange(server.port, upgrade_request(key=b""))
        assert status == 400


async def test_malformed_websocket_key_gets_400():
    async with server_under_attack() as server:
        status, _ = await http_exchange(server.port, upgrade_request(key=b"not-base64-of-16-bytes"))
        assert status == 400


async def test_upgrade_with_a_method_other_than_get_gets_405():
    async with server_under_attack() as server:
        status, _ = await http_exchange(server.port, upgrade_request(method=b"POST", extra=b"Content-Length: 0\r\n"))
        assert status == 405


# ---- protocol violations after the upgrade ---------------------------------------------------


async def test_unmasked_client_frame_closes_with_1002():
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(TEXT, b"unmasked", masked=False)
        assert await ws.close_code() == 1002


@pytest.mark.parametrize("rsv", [1, 2, 4], ids=["rsv3", "rsv2", "rsv1_without_deflate"])
async def test_reserved_bits_close_with_1002(rsv):
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(BINARY, b"x", rsv=rsv)
        assert await ws.close_code() == 1002


@pytest.mark.parametrize("opcode", [3, 7, 11, 15])
async def test_reserved_opcodes_close_with_1002(opcode):
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(opcode, b"x")
        assert await ws.close_code() == 1002


async def test_messages_before_a_violation_are_echoed_before_the_close_frame():
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        # One write, so the server parses the message and the violation in one batch.
        ws.writer.write(serialize_frame(TEXT, b"Hello", mask=os.urandom(4)) + serialize_frame(5, b"", mask=os.urandom(4)))
        output = b""
        while chunk := await asyncio.wait_for(ws.reader.read(65536), TIMEOUT):
            output += chunk
        events = ReferenceCodec(client=True).receive_data(output)
        assert [e[:2] for e in events] == [(TEXT, b"Hello"), (CLOSE, 1002)]


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 2999, 5000])
async def test_invalid_close_code_closes_with_1002(code):
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(CLOSE, struct.pack("!H", code))
        assert await ws.close_code() == 1002


async def test_invalid_utf8_split_across_fragments_closes_with_1007_before_the_final_fragment():
    async with server_under_attack() as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(TEXT, "κόσμε".encode() + b"\xed", fin=False)  # a sequence that may still become valid...
        ws.send_frame(CONTINUATION, b"\xa0\x80 and more", fin=False)  # ...but is a surrogate: invalid
        # No final fragment is ever sent: the server must not wait for it.
        assert await ws.close_code() == 1007


async def test_compression_bomb_closes_with_1009():
    limit = 1 << 20
    async with server_under_attack(max_message_size=limit) as server:
        ws = await RawWebSocket.connect(server.port, extensions=b"permessage-deflate")
        assert b"permessage-deflate" in ws.head.lower()
        compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = compressor.compress(b"\x00" * (64 * limit)) + compressor.flush(zlib.Z_SYNC_FLUSH)
        assert len(bomb) < limit // 10  # small on the wire, 64 MiB inflated
        ws.send_frame(BINARY, bomb[:-4], rsv=4)  # RSV1: compressed; RFC 7692 strips the tail
        assert await ws.close_code() == 1009


async def test_message_over_the_size_limit_closes_with_1009():
    limit = 1 << 20
    async with server_under_attack(max_message_size=limit) as server:
        ws = await RawWebSocket.connect(server.port)
        ws.send_frame(BINARY, b"a" * (limit // 2), fin=False)
        ws.send_frame(CONTINUATION, b"b" * (limit // 2 + 1))
        assert await ws.close_code() == 1009


async def test_message_of_exactly_the_size_limit_is_echoed():
    limit = 1 << 20
    async with server_under_attack(max_message_size=limit) as server:
        async with websockets.asyncio.client.connect(server.url, max_size=None, ping_interval=None) as ws:
            await ws.send(b"z" * limit)
            assert await asyncio.wait_for(ws.recv(), TIMEOUT) == b"z" * limit


# ---- a peer that never reads -----------------------------------------------------------------


async def test_client_that_never_reads_cannot_grow_server_memory_and_is_closed():
    high_water, message = 1 << 20, 64 * 1024
    settings = dict(write_high_water=high_water, write_low_water=high_water // 4,
                    ping_interval=0.5, ping_timeout=0.5, close_timeout=1.0)  # fmt: skip
    async with server_under_attack(**settings) as server:
        process = psutil.Process()
        rss_before = process.memory_info().rss
        bystanders = set(server.server.connections)  # the healthy connection
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.transport.set_write_buffer_limits(high=message)
        writer.write(upgrade_request())
        connection = None
        peak_buffered = sent = 0
        # Send echo requests and never read the echoes. Once the server stops reading (its
        # output is over the high-water mark), our writes stop draining: the attack is stuck.
        while True:
            writer.write(serialize_frame(BINARY, os.urandom(message), mask=os.urandom(4)))
            try:
                await asyncio.wait_for(writer.drain(), 2)
            except (asyncio.TimeoutError, ConnectionError):
                break
            sent += message
            connection = connection or next(iter(server.server.connections - bystanders), None)
            if connection is not None:
                peak_buffered = max(peak_buffered, connection.buffered_amount)
            assert sent < 1 << 30, "the server never stopped reading"
        rss_growth = process.memory_info().rss - rss_before
        assert connection is not None
        peak_buffered = max(peak_buffered, connection.buffered_amount)  # now that reading stopped
        assert peak_buffered <= 2 * high_water + 128 * 1024  # high water + what one read echoes
        assert rss_growth < 64 << 20, f"RSS grew {rss_growth >> 20} MiB while {sent >> 20} MiB were sent"
        # The keepalive ping goes unanswered: the server gives up on the connection.
        for _ in range(100):
            if connection not in server.server.connections:
                break
            await asyncio.sleep(0.1)
        assert connection not in server.server.connections, "the non-reading connection is still open"
        writer.transport.abort()
