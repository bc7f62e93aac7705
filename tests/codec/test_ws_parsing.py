"""WsCodec input: bytes in, event tuples out (RFC 6455 §5-§7)."""

import struct

from aigw._codec import BINARY, CLOSE, FAIL, PING, PONG, TEXT, WsCodec
from ws_wire import frame, unmask_frames

HELLO_MASKED = bytes([0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58])


def test_masked_text_frame_yields_a_text_event():
    assert WsCodec().receive_data(HELLO_MASKED) == [(TEXT, b"Hello")]


def test_client_accepts_unmasked_frames():
    codec = WsCodec(client=True)
    assert codec.receive_data(bytes([0x82, 0x05]) + b"Hello") == [(BINARY, b"Hello")]


def test_input_split_at_every_byte_gives_the_same_events():
    codec = WsCodec()
    events = []
    for i in range(len(HELLO_MASKED)):
        events += codec.receive_data(HELLO_MASKED[i : i + 1])
    assert events == [(TEXT, b"Hello")]


def test_partial_frame_is_reported_as_buffered_input():
    codec = WsCodec()
    assert codec.receive_data(HELLO_MASKED[:4]) == []
    assert codec.buffered_input == 4


def test_many_frames_in_one_call_come_back_in_order():
    data = b"".join(frame(0x81, f"m{i}".encode()) for i in range(1000))
    assert WsCodec().receive_data(data) == [(TEXT, f"m{i}".encode()) for i in range(1000)]


def test_receive_data_accepts_bytearray_and_memoryview():
    assert WsCodec().receive_data(bytearray(HELLO_MASKED)) == [(TEXT, b"Hello")]
    assert WsCodec().receive_data(memoryview(HELLO_MASKED)) == [(TEXT, b"Hello")]


def test_fragments_are_assembled_with_interleaved_control_frames():
    data = frame(0x01, b"Hel") + frame(0x89, b"p") + frame(0x00, b"l") + frame(0x8A, b"q") + frame(0x80, b"o")
    assert WsCodec().receive_data(data) == [(PING, b"p"), (PONG, b"q"), (TEXT, b"Hello")]


def test_ping_queues_a_pong_with_the_same_payload():
    codec = WsCodec()
    assert codec.receive_data(frame(0x89, b"are you there")) == [(PING, b"are you there")]
    assert codec.data_to_send() == bytes([0x8A, 13]) + b"are you there"


def test_auto_pong_off_queues_nothing():
    codec = WsCodec(auto_pong=False)
    assert codec.receive_data(frame(0x89, b"x")) == [(PING, b"x")]
    assert codec.output_size == 0


def test_client_auto_pong_is_masked():
    codec = WsCodec(client=True)
    codec.receive_data(frame(0x89, b"hi", mask=None))
    out = codec.data_to_send()
    assert out[1] & 0x80
    assert unmask_frames(out) == [(0x8A, b"hi")]


def test_close_frame_reports_code_and_reason_and_queues_nothing():
    codec = WsCodec()
    assert codec.receive_data(frame(0x88, struct.pack("!H", 1001) + "bye ✓".encode())) == [(CLOSE, 1001, "bye ✓")]
    assert codec.output_size == 0
    assert codec.closed


def test_empty_close_frame_reports_1005():
    assert WsCodec().receive_data(frame(0x88)) == [(CLOSE, 1005, "")]


def test_input_after_a_close_frame_is_ignored():
    codec = WsCodec()
    events = codec.receive_data(frame(0x88, b"\x03\xe8") + frame(0x81, b"late"))
    assert events == [(CLOSE, 1000, "")]
    assert codec.receive_data(frame(0x81, b"later")) == []


def test_application_close_codes_are_accepted():
    assert WsCodec().receive_data(frame(0x88, struct.pack("!H", 4000))) == [(CLOSE, 4000, "")]


def test_16_mib_message_is_delivered_whole():
    payload = bytes(range(256)) * (64 * 1024)
    assert len(payload) == 16 * 1024 * 1024
    key = b"\x01\x02\x03\x04"
    masked = bytes(a ^ b for a, b in zip(payload, key * (len(payload) // 4)))
    data = bytes([0x82, 0xFF]) + struct.pack("!Q", len(payload)) + key + masked
    codec = WsCodec()
    events = []
    for i in range(0, len(data), 1 << 20):
        events += codec.receive_data(data[i : i + (1 << 20)])
    assert len(events) == 1
    assert events[0][0] == BINARY and events[0][1] == payload


def test_get_buffer_returns_a_writable_view_of_the_free_tail():
    codec = WsCodec(read_buffer_size=4096)
    view = codec.get_buffer(-1)
    assert not view.readonly
    assert len(view) == 4096


def test_buffer_updated_parses_bytes_written_into_the_view():
    codec = WsCodec()
    events = []
    for i in range(len(HELLO_MASKED)):
        view = codec.get_buffer(-1)
        view[:1] = HELLO_MASKED[i : i + 1]
        del view
        events += codec.buffer_updated(1)
    assert events == [(TEXT, b"Hello")]


def test_large_frames_stream_through_a_small_buffer_with_get_buffer():
    payload = b"x" * 100_000
    data = frame(0x82, payload)
    codec = WsCodec(read_buffer_size=1024)
    events = []
    while data:
        view = codec.get_buffer(-1)
        n = min(len(view), len(data))
        view[:n] = data[:n]
        del view
        data = data[n:]
        events += codec.buffer_updated(n)
    assert events == [(BINARY, payload)]


def test_view_outlives_the_codec_safely():
    codec = WsCodec()
    view = codec.get_buffer(-1)
    del codec
    view[:5] = b"still"
    assert bytes(view[:5]) == b"still"


def test_buffer_updated_rejects_more_than_the_view_held():
    codec = WsCodec(read_buffer_size=1024)
    size = len(codec.get_buffer(-1))
    try:
        codec.buffer_updated(size + 1)
    except ValueError:
        pass
    else:
        raise AssertionError("expected ValueError")


def test_codec_can_be_subclassed():
    class Proto(WsCodec):
        def handle(self, data):
            return [event[0] for event in self.receive_data(data)]

    assert Proto().handle(HELLO_MASKED) == [TEXT]
    assert FAIL == 0x100
