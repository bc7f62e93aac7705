"""A minimal asyncio WebSocket echo server over WsCodec, for conformance tests only (the real
server lives in aigw.server). The handshake is parsed naively; framing is all WsCodec's."""

import asyncio
import base64
import hashlib

from aigw._codec import BINARY, CLOSE, FAIL, TEXT, WsCodec, negotiate_deflate

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65"


class EchoProtocol(asyncio.BufferedProtocol):
    """Handshake into a bytearray, then hand the socket's bytes straight to WsCodec."""

    def __init__(self):
        self.codec = None
        self.head = bytearray(65536)
        self.head_len = 0

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        if self.codec is not None:
            return self.codec.get_buffer(sizehint)
        return memoryview(self.head)[self.head_len :]

    def buffer_updated(self, nbytes):
        if self.codec is not None:
            self.handle(self.codec.buffer_updated(nbytes))
            return
        self.head_len += nbytes
        data = bytes(self.head[: self.head_len])
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return
        headers = {}
        for line in data[:end].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower().decode()
            headers[key] = (headers[key] + ", " if key in headers else "") + value.strip().decode()
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest())
        response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        response += b"Sec-WebSocket-Accept: " + accept + b"\r\n"
        params = None
        found = negotiate_deflate(headers.get("sec-websocket-extensions", ""))
        if found:
            ext, params = found
            response += b"Sec-WebSocket-Extensions: " + ext.encode() + b"\r\n"
        self.transport.write(response + b"\r\n")
        self.codec = WsCodec(deflate=params, max_message_size=64 << 20)
        self.handle(self.codec.receive_data(data[end + 4 :]))

    def handle(self, events):
        codec = self.codec
        done = False
        for event in events:
            kind = event[0]
            if kind == TEXT:
                codec.send_text(event[1])
            elif kind == BINARY:
                codec.send_binary(event[1])
            elif kind == CLOSE:
                codec.send_close(None if event[1] == 1005 else event[1])
                done = True
            elif kind == FAIL:
                done = True
        if codec.output_size:
            self.transport.write(codec.data_to_send())
        if done:
            self.transport.close()


async def serve(host="127.0.0.1"):
    """Start the echo server on a free port; returns (server, url)."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, host, 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"ws://{host}:{port}"
