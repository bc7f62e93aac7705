"""Differential spec: frames serialized by the `websockets` library (an independent
implementation) parse to the messages it meant, under any chunking, with and without deflate."""

from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from aigw._codec import BINARY, PING, TEXT, DeflateParams, WsCodec

messages = st.lists(
    st.one_of(
        st.tuples(st.just(TEXT), st.text(max_size=300).map(str.encode)),
        st.tuples(st.just(BINARY), st.binary(max_size=70_000)),
        st.tuples(st.just(PING), st.binary(max_size=125)),
    ),
    max_size=8,
)


def serialize(items, fragment_sizes, deflate):
    ext = [PerMessageDeflate(False, False, 15, 15)] if deflate else None
    wire = b""
    for i, (kind, payload) in enumerate(items):
        if kind == PING:
            wire += Frame(Opcode.PING, payload).serialize(mask=True)
            continue
        opcode = Opcode.TEXT if kind == TEXT else Opcode.BINARY
        step = fragment_sizes[i % len(fragment_sizes)]
        if deflate or step == 0 or len(payload) <= step:
            wire += Frame(opcode, payload).serialize(mask=True, extensions=ext)
            continue
        parts = [payload[j : j + step] for j in range(0, len(payload), step)]
        for j, part in enumerate(parts):
            frame = Frame(opcode if j == 0 else Opcode.CONT, part, fin=j == len(parts) - 1)
            wire += frame.serialize(mask=True)
    return wire


@settings(max_examples=60, deadline=None)
@given(
    items=messages,
    fragment_sizes=st.lists(st.integers(0, 5000), min_size=1, max_size=4),
    deflate=st.booleans(),
    cuts=st.lists(st.integers(0, 1 << 20), max_size=10),
)
def test_websockets_frames_parse_to_the_same_messages_under_any_chunking(items, fragment_sizes, deflate, cuts):
    wire = serialize(items, fragment_sizes, deflate)
    codec = WsCodec(deflate=DeflateParams() if deflate else None, read_buffer_size=1024)
    points = sorted({c % (len(wire) + 1) for c in cuts} | {0, len(wire)})
    events = []
    for a, b in zip(points, points[1:]):
        events += codec.receive_data(wire[a:b])
    assert events == [tuple(item) for item in items]
