"""WebSocket codec micro benchmarks: aigw's Rust codec beside websockets and aiohttp doing the
same work through their Python APIs (issue "Foundation", part 5; codec.md §8.4 targets).

Not part of the test suite (benches/ is outside `testpaths`). Run explicitly:

    python -m pytest benches/micro --benchmark-json=benches/results/micro.json
    python benches/micro/report.py benches/results/micro.json

`--benchmark-disable` runs each body once, as a quick check that the benches still work.

picows exposes no public parser, serializer or mask function (its frame parser lives inside
`WSProtocol`, which needs a live socket transport; its mask kernels are C-level only), so it
appears in the end-to-end throughput benches only.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import MASK, SIZES, Batch, ascii_payload, client_frame, label, mixed_payload

from aigw import _codec

websockets_protocol = pytest.importorskip("websockets.protocol")
websockets_frames = pytest.importorskip("websockets.frames")
aiohttp_reader = pytest.importorskip("aiohttp._websocket.reader")
aiohttp_writer = pytest.importorskip("aiohttp._websocket.writer")

MIB = 1024 * 1024

# ---------------------------------------------------------------- parse (client -> server)


def aigw_parser(batch: Batch):
    codec = _codec.WsCodec(max_message_size=64 * MIB)
    data = batch.data

    def parse():
        return codec.receive_data(data)

    return parse


def aigw_buffered_parser(batch: Batch):
    """What uvloop does with a BufferedProtocol: recv_into the codec's buffer, then commit."""
    codec = _codec.WsCodec(max_message_size=64 * MIB)
    data = memoryview(batch.data)
    total = len(data)
    get_buffer, buffer_updated = codec.get_buffer, codec.buffer_updated

    def parse():
        events = []
        off = 0
        while off < total:
            view = get_buffer(-1)
            n = min(len(view), total - off)
            view[:n] = data[off : off + n]  # stands in for the kernel's copy in recv_into
            events += buffer_updated(n)
            off += n
        return events

    return parse


def websockets_parser(batch: Batch):
    """websockets' sans-I/O Protocol (its Frame.parse generator, C apply_mask speedup).
    Text is not UTF-8-decoded here (websockets does that later, in its connection layer)."""
    proto = websockets_protocol.Protocol(websockets_protocol.SERVER, max_size=None)
    data = batch.data

    def parse():
        proto.receive_data(data)
        return proto.events_received()

    return parse


class _PausedProtocol:
    """aiohttp's queue asks its protocol to pause reading when full; we never pause."""

    _reading_paused = True

    def pause_reading(self) -> None:  # pragma: no cover - never called while paused
        pass


def aiohttp_parser(batch: Batch):
    """aiohttp's Cython WebSocketReader with decode_text=True (text arrives as str, UTF-8
    checked), as aiohttp's server uses it. A fresh queue per call keeps its byte accounting
    from stalling the reader (costs about 1 µs per call, under 1 ns per small frame)."""
    loop = asyncio.new_event_loop()
    proto = _PausedProtocol()
    Queue, Reader = aiohttp_reader.WebSocketDataQueue, aiohttp_reader.WebSocketReader
    data = batch.data

    def parse():
        queue = Queue(proto, 1 << 30, loop=loop)
        Reader(queue, 0, False, True).feed_data(data)
        return queue._buffer

    parse.close = loop.close
    return parse


PARSERS = {
    "aigw": aigw_parser,
    "aigw-buffered": aigw_buffered_parser,
    "websockets": websockets_parser,
    "aiohttp": aiohttp_parser,
}


@pytest.mark.parametrize("impl", list(PARSERS))
def test_parse_masked_text_frames(benchmark, batch, impl):
    parse = PARSERS[impl](batch)
    got = parse()
    assert len(got) == batch.frames, f"{impl} parsed {len(got)} of {batch.frames} frames"
    label(benchmark, impl=impl, op="parse", size=batch.label, frames=batch.frames,
          payload_bytes=batch.payload_bytes)
    benchmark(parse)
    getattr(parse, "close", lambda: None)()


# ---------------------------------------------------------------- serialize (server -> client)


def aigw_serializer(batch: Batch):
    codec = _codec.WsCodec()
    payload, n = batch.payload, batch.frames
    send_text, data_to_send = codec.send_text, codec.data_to_send

    def serialize():
        for _ in range(n):
            send_text(payload)
        return data_to_send()

    return serialize


def websockets_serializer(batch: Batch):
    proto = websockets_protocol.Protocol(websockets_protocol.SERVER, max_size=None)
    payload, n = batch.payload, batch.frames
    send_text, data_to_send = proto.send_text, proto.data_to_send

    def serialize():
        for _ in range(n):
            send_text(payload)
        return b"".join(data_to_send())

    return serialize


class _ListTransport:
    def __init__(self) -> None:
        self.out: list[bytes] = []
        self.write = self.out.append

    def is_closing(self) -> bool:
        return False


def aiohttp_serializer(batch: Batch):
    """aiohttp's WebSocketWriter frame path (header pack + one transport.write per frame;
    the transport here only appends to a list, so a real write would cost more)."""
    transport = _ListTransport()
    writer = aiohttp_writer.WebSocketWriter(None, transport)
    write_frame = writer._write_websocket_frame
    payload, n, out = batch.payload, batch.frames, transport.out

    def serialize():
        for _ in range(n):
            write_frame(payload, 0x1, 0)
        data = b"".join(out)
        out.clear()
        return data

    return serialize


def aigw_vectored_serializer(batch: Batch):
    """What the server does: data_to_send_vectored (payloads >= 64 KiB go by reference)."""
    codec = _codec.WsCodec()
    payload, n = batch.payload, batch.frames
    send_text, drain = codec.send_text, codec.data_to_send_vectored

    def serialize():
        for _ in range(n):
            send_text(payload)
        return drain()

    return serialize


SERIALIZERS = {"aigw": aigw_serializer, "aigw-vectored": aigw_vectored_serializer,
               "websockets": websockets_serializer, "aiohttp": aiohttp_serializer}


@pytest.mark.parametrize("impl", list(SERIALIZERS))
def test_serialize_text_frames(benchmark, batch, impl):
    serialize = SERIALIZERS[impl](batch)
    wire = serialize()
    if isinstance(wire, list):
        wire = b"".join(wire)
    head = 2 if batch.size < 126 else 4 if batch.size < 65536 else 10
    assert len(wire) == (head + batch.size) * batch.frames
    label(benchmark, impl=impl, op="serialize", size=batch.label, frames=batch.frames,
          payload_bytes=batch.payload_bytes)
    benchmark(serialize)


# ---------------------------------------------------------------- unmask 1 MiB


def _unmask_cases():
    from aiohttp._websocket.helpers import websocket_mask as _websocket_mask
    from websockets.speedups import apply_mask

    src = bytearray(ascii_payload(MIB))
    frozen = bytes(src)
    dst = bytearray(MIB)
    dst_view = memoryview(dst)
    return {
        # baselines: the same bytes copied, in place and into a new object
        "memcpy (memoryview slice assign)": lambda: dst_view.__setitem__(slice(None), src),
        "memcpy (bytes(bytearray))": lambda: bytes(src),
        "aigw (in place)": lambda: _codec.apply_mask_in_place(src, MASK),
        "aiohttp websocket_mask (in place)": lambda: _websocket_mask(MASK, src),
        "websockets apply_mask (new bytes)": lambda: apply_mask(frozen, MASK),
    }


UNMASK = list(_unmask_cases())


@pytest.mark.parametrize("impl", UNMASK)
def test_unmask_1mib(benchmark, impl):
    fn = _unmask_cases()[impl]
    fn()
    label(benchmark, impl=impl, op="unmask", size="1MiB", frames=1, payload_bytes=MIB)
    benchmark(fn)


def test_unmask_kernels_agree():
    """The kernels benchmarked above compute the same thing (the bench compares like with like)."""
    from aiohttp._websocket.helpers import websocket_mask as _websocket_mask
    from websockets.speedups import apply_mask

    data = mixed_payload(MIB + 3)
    a, b = bytearray(data), bytearray(data)
    _codec.apply_mask_in_place(a, MASK)
    _websocket_mask(MASK, b)
    assert a == b == apply_mask(data, MASK)


# ---------------------------------------------------------------- UTF-8 1 MiB

UTF8_INPUTS = {"ascii": ascii_payload(MIB), "mixed": mixed_payload(MIB)}


def _utf8_cases(data: bytes):
    return {
        "aigw validate_utf8": lambda: _codec.validate_utf8(data),
        # what aiohttp (decode_text) and websockets (connection layer) do: build a str
        "CPython bytes.decode (aiohttp, websockets)": lambda: data.decode("utf-8"),
    }


UTF8 = list(_utf8_cases(b""))


@pytest.mark.parametrize("text", list(UTF8_INPUTS))
@pytest.mark.parametrize("impl", UTF8)
def test_validate_utf8_1mib(benchmark, impl, text):
    data = UTF8_INPUTS[text]
    fn = _utf8_cases(data)[impl]
    assert fn() not in (False, None)
    label(benchmark, impl=impl, op=f"utf8-{text}", size="1MiB", frames=1, payload_bytes=len(data))
    benchmark(fn)


# ---------------------------------------------------------------- sanity of the inputs


def test_batches_decode_to_their_payload():
    """Every parser sees well-formed frames: aigw reads back exactly the payloads we built."""
    for size in SIZES.values():
        b = Batch(size)
        events = _codec.WsCodec(max_message_size=64 * MIB).receive_data(b.data)
        assert events == [(_codec.TEXT, b.payload)] * b.frames
    assert client_frame(0x1, b"")[:2] == b"\x81\x80"
