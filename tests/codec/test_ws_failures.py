"""Every way WsCodec fails a connection: the FAIL event, the queued close frame, and silence after."""

import struct

import pytest

from aigw._codec import FAIL, PING, TEXT, DeflateParams, WsCodec
from ws_wire import frame, unmask_frames


def fail_code(data: bytes, **kwargs) -> int:
    codec = WsCodec(**kwargs)
    events = codec.receive_data(data)
    assert events[-1][0] == FAIL, events
    code = events[-1][1]
    sent = unmask_frames(codec.data_to_send())
    assert sent[0][0] == 0x88 and struct.unpack("!H", sent[0][1][:2])[0] == code
    assert isinstance(events[-1][2], str) and events[-1][2]
    return code


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(frame(0x81, b"Hello", mask=None), id="unmasked-client-frame"),
        pytest.param(frame(0x83), id="reserved-data-opcode"),
        pytest.param(frame(0x8B), id="reserved-control-opcode"),
        pytest.param(frame(0xA1, b"x"), id="rsv2"),
        pytest.param(frame(0x91, b"x"), id="rsv3"),
        pytest.param(frame(0xC1, b"x"), id="rsv1-without-deflate"),
        pytest.param(frame(0x09, b"x"), id="fragmented-ping"),
        pytest.param(frame(0x89, b"x" * 126), id="ping-over-125-bytes"),
        pytest.param(frame(0x80, b"x"), id="continuation-without-start"),
        pytest.param(frame(0x01, b"a") + frame(0x81, b"b"), id="new-message-inside-fragmented-one"),
        pytest.param(frame(0x88, b"\x03"), id="one-byte-close-body"),
        pytest.param(bytes([0x82, 0xFF]) + b"\x80" + bytes(7) + b"abcd", id="length-top-bit-set"),
    ],
)
def test_protocol_violations_fail_with_1002(data):
    assert fail_code(data) == 1002


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_invalid_close_codes_fail_with_1002(code):
    assert fail_code(frame(0x88, struct.pack("!H", code))) == 1002


def test_server_frames_must_not_be_masked():
    assert fail_code(frame(0x81, b"x"), client=True) == 1002


def test_invalid_utf8_text_fails_with_1007():
    assert fail_code(frame(0x81, b"\xff")) == 1007


def test_invalid_utf8_fails_on_the_first_fragment_without_waiting_for_the_end():
    codec = WsCodec()
    assert codec.receive_data(frame(0x01, b"ok\xf0\x80")) == [(FAIL, 1007, "invalid UTF-8 in text message")]


def test_truncated_utf8_fails_when_the_message_ends():
    codec = WsCodec()
    assert codec.receive_data(frame(0x01, "€".encode()[:2])) == []
    assert codec.receive_data(frame(0x80, b""))[0][:2] == (FAIL, 1007)


def test_utf8_split_across_fragments_is_valid():
    codec = WsCodec()
    euro = "€".encode()
    assert codec.receive_data(frame(0x01, euro[:1]) + frame(0x80, euro[1:])) == [(TEXT, euro)]


def test_invalid_utf8_in_close_reason_fails_with_1007():
    assert fail_code(frame(0x88, b"\x03\xe8\xff")) == 1007


def test_frame_over_max_frame_size_fails_with_1009():
    assert fail_code(frame(0x82, b"12345"), max_frame_size=4) == 1009


def test_message_size_is_checked_from_the_header_before_the_payload_arrives():
    assert fail_code(frame(0x82, length=1 << 40), max_message_size=1 << 20) == 1009


def test_fragments_adding_up_past_max_message_size_fail_with_1009():
    assert fail_code(frame(0x02, b"x" * 6) + frame(0x80, b"x" * 6), max_message_size=10) == 1009


def test_compression_bomb_fails_with_1009():
    sender = WsCodec(client=True, deflate=DeflateParams())
    sender.send_binary(bytes(32 << 20))
    wire = sender.data_to_send()
    assert len(wire) < (32 << 20) // 50
    assert fail_code(wire, deflate=DeflateParams(), max_message_size=1 << 20) == 1009


def test_corrupt_compressed_data_fails_with_1007():
    assert fail_code(frame(0xC2, b"\xff\xff\xff\xff"), deflate=DeflateParams()) == 1007


def test_rsv1_on_a_continuation_frame_fails_with_1002():
    data = frame(0x42, b"\xf2\x48") + frame(0xC0, b"\xcd")
    assert fail_code(data, deflate=DeflateParams()) == 1002


def test_events_before_a_failure_are_delivered_first():
    events = WsCodec().receive_data(frame(0x81, b"a") + frame(0x83) + frame(0x81, b"b"))
    assert [e[:2] for e in events] == [(TEXT, b"a"), (FAIL, 1002)]


def test_input_after_a_failure_is_ignored():
    codec = WsCodec()
    codec.receive_data(frame(0x83))
    codec.data_to_send()
    assert codec.receive_data(frame(0x81, b"after")) == []
    assert codec.closed and codec.buffered_input == 0 and codec.output_size == 0


def test_replies_to_events_before_a_failure_go_out_before_the_close_frame():
    codec = WsCodec()
    events = codec.receive_data(frame(0x81, b"echo me") + frame(0x83))
    codec.send_text(events[0][1])
    assert [b0 for b0, _ in unmask_frames(codec.data_to_send())] == [0x81, 0x88]


def test_a_protocol_error_after_our_close_queues_nothing_more():
    codec = WsCodec()
    codec.send_close(1000, "bye")
    assert codec.data_to_send() == b"\x88\x05\x03\xe8bye"
    events = codec.receive_data(frame(0x83))  # reserved opcode: a protocol violation
    assert [e[:2] for e in events] == [(FAIL, 1002)]
    assert codec.data_to_send() == b""


def test_a_protocol_error_while_our_close_is_still_queued_adds_no_second_close():
    codec = WsCodec()
    codec.send_close(1000, "bye")
    codec.receive_data(frame(0x83))
    assert codec.data_to_send() == b"\x88\x05\x03\xe8bye"


def test_pings_after_our_close_are_reported_but_not_answered():
    codec = WsCodec()
    codec.send_close(1000, "")
    codec.data_to_send()
    assert codec.receive_data(frame(0x89, b"p")) == [(PING, b"p")]
    assert codec.data_to_send() == b""
