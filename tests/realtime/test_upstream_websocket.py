"""aigw.upstream.websocket: the client role of aigw's WebSocket stack, against `websockets` servers
(and a raw asyncio server for answers `websockets` would never give)."""

from __future__ import annotations

import asyncio
import ssl

import pytest
import trustme
from websockets.asyncio.server import serve

from aigw.upstream.errors import ConnectTimeout, UpstreamConnectError, UpstreamProtocolError
from aigw.upstream.websocket import HandshakeRejected, HandshakeTimeout, connect_websocket


class Inbox:
    """Collects what an UpstreamWebSocket reports."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue = asyncio.Queue()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()

    def on_message(self, opcode: int, payload: bytes) -> None:
        self.messages.put_nowait((opcode, payload))

    def on_close(self, code: int, reason: str) -> None:
        if not self.closed.done():
            self.closed.set_result((code, reason))


async def echo(ws):
    async for message in ws:
        await ws.send(message)


@pytest.fixture
async def echo_server():
    def pick(connection, offered):
        return "realtime" if "realtime" in offered else None

    async with serve(echo, "127.0.0.1", 0, select_subprotocol=pick, compression="deflate") as server:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def raw_server(answer: bytes | None):
    """A TCP server that reads one request head and writes `answer` (None: never answers)."""

    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):  # a client that gave up (TLS hello, timeout)
            writer.close()
            return
        if answer is not None:
            writer.write(answer)
            await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_text_and_binary_messages_round_trip_unchanged(echo_server):
    ws = await connect_websocket(echo_server + "/x?y=1")
    inbox = Inbox()
    ws.start(inbox.on_message, inbox.on_close)
    ws.send_text(b'{"type":"hello"}')
    ws.send_binary(bytes(range(256)) * 300)
    assert await inbox.messages.get() == (1, b'{"type":"hello"}')
    assert await inbox.messages.get() == (2, bytes(range(256)) * 300)
    ws.close()
    assert await inbox.closed == (1000, "")


async def test_subprotocol_and_permessage_deflate_are_negotiated(echo_server):
    ws = await connect_websocket(echo_server, subprotocols=["other", "realtime"], deflate=True)
    inbox = Inbox()
    ws.start(inbox.on_message, inbox.on_close)
    assert ws.subprotocol == "realtime"
    assert any(n == "sec-websocket-extensions" and "permessage-deflate" in v for n, v in ws.response_headers)
    ws.send_text("a" * 100_000)
    assert await inbox.messages.get() == (1, b"a" * 100_000)
    ws.close()
    await inbox.closed


async def test_close_code_and_reason_sent_by_the_client_reach_the_server():
    seen = asyncio.get_running_loop().create_future()

    async def handler(ws):
        try:
            await ws.recv()
        except Exception:
            seen.set_result((ws.close_code, ws.close_reason))

    async with serve(handler, "127.0.0.1", 0) as server:
        ws = await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        inbox = Inbox()
        ws.start(inbox.on_message, inbox.on_close)
        ws.close(4001, "bye")
        assert await asyncio.wait_for(seen, 2) == (4001, "bye")
        assert await inbox.closed == (4001, "bye")
        assert ws.closed_by == "gateway"


async def test_close_code_and_reason_sent_by_the_server_are_reported():
    async def handler(ws):
        await ws.close(1011, "upstream broke")

    async with serve(handler, "127.0.0.1", 0) as server:
        ws = await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        inbox = Inbox()
        ws.start(inbox.on_message, inbox.on_close)
        assert await asyncio.wait_for(inbox.closed, 2) == (1011, "upstream broke")
        assert ws.closed_by == "upstream"


async def test_messages_sent_right_after_the_101_are_not_lost():
    async def handler(ws):
        for i in range(5):
            await ws.send(f"m{i}")
        await asyncio.sleep(1)

    async with serve(handler, "127.0.0.1", 0) as server:
        ws = await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")
        await asyncio.sleep(0.1)  # everything has arrived before start()
        inbox = Inbox()
        ws.start(inbox.on_message, inbox.on_close)
        assert [(await inbox.messages.get())[1] for _ in range(5)] == [b"m0", b"m1", b"m2", b"m3", b"m4"]
        ws.close()


async def test_an_answer_other_than_101_raises_handshake_rejected_with_status_and_body():
    body = b'{"error":{"message":"Incorrect API key provided."}}'
    answer = (b"HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body)) + body
    server = await raw_server(answer)
    async with server:
        with pytest.raises(HandshakeRejected) as caught:
            await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime")
    assert caught.value.status == 401
    assert caught.value.body == body
    assert ("content-type", "application/json") in caught.value.headers


async def test_a_wrong_sec_websocket_accept_is_refused():
    answer = b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"
    server = await raw_server(answer)
    async with server:
        with pytest.raises(UpstreamProtocolError, match="Sec-WebSocket-Accept"):
            await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}")


async def test_no_answer_to_the_upgrade_is_a_handshake_timeout():
    server = await raw_server(None)
    async with server:
        with pytest.raises(HandshakeTimeout):
            await connect_websocket(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}", handshake_timeout=0.2)


async def test_a_refused_connection_is_a_connect_error():
    server = await raw_server(None)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    with pytest.raises(UpstreamConnectError):
        await connect_websocket(f"ws://127.0.0.1:{port}")


async def test_connect_timeout_covers_tcp_and_tls():
    # A TLS server that accepts TCP and never speaks: the TLS handshake cannot finish.
    server = await raw_server(None)
    async with server:
        with pytest.raises(ConnectTimeout):
            await connect_websocket(f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}", connect_timeout=0.2)


@pytest.fixture(scope="module")
def tls():
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return server, client


async def test_wss_verifies_the_server_certificate(tls):
    server_ctx, client_ctx = tls
    async with serve(echo, "127.0.0.1", 0, ssl=server_ctx) as server:
        url = f"wss://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        with pytest.raises(UpstreamConnectError, match="CERTIFICATE_VERIFY_FAILED|SSLCertVerificationError"):
            await connect_websocket(url)  # the system trust store does not know the test CA
        ws = await connect_websocket(url, ssl_context=client_ctx)
        inbox = Inbox()
        ws.start(inbox.on_message, inbox.on_close)
        ws.send_text("over tls")
        assert await inbox.messages.get() == (1, b"over tls")
        ws.close()
        await inbox.closed


async def test_pause_reading_holds_messages_until_resume(echo_server):
    ws = await connect_websocket(echo_server)
    inbox = Inbox()
    ws.start(inbox.on_message, inbox.on_close)
    ws.pause_reading()
    ws.send_text("held")
    await asyncio.sleep(0.1)
    assert inbox.messages.empty()
    ws.resume_reading()
    assert await asyncio.wait_for(inbox.messages.get(), 2) == (1, b"held")
    ws.close()
    await inbox.closed


async def test_a_failing_relay_closes_its_connection_with_1011_and_is_logged(echo_server, caplog):
    ws, peer = await connect_websocket(echo_server), await connect_websocket(echo_server)
    inbox, peer_inbox = Inbox(), Inbox()
    ws.start(inbox.on_message, inbox.on_close)
    peer.start(peer_inbox.on_message, peer_inbox.on_close)

    def broken(nbytes: int) -> list:
        raise RuntimeError("relay bug")

    ws.relay_peer, ws.read_relay = peer, broken
    ws.send_text("echoed back into the broken relay")
    code, _ = await asyncio.wait_for(inbox.closed, 2)
    assert code == 1011 and ws.closed_by == "gateway"
    assert "read_relay failed" in caplog.text
    peer.send_text("the other side is unharmed")
    assert await asyncio.wait_for(peer_inbox.messages.get(), 2) == (1, b"the other side is unharmed")
    peer.close()
