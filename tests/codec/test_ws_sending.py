"""WsCodec output: what each send_* queues, and draining it."""

import pytest

from aigw._codec import BINARY, CLOSE, PING, PONG, TEXT, WsCodec
from ws_wire import unmask_frames


def test_server_text_is_one_unmasked_frame():
    codec = WsCodec()
    codec.send_text("Hello")
    assert codec.data_to_send() == bytes([0x81, 0x05]) + b"Hello"


def test_text_accepts_str_and_utf8_bytes():
    codec = WsCodec()
    codec.send_text("é")
    codec.send_text("é".encode())
    assert unmask_frames(codec.data_to_send()) == [(0x81, "é".encode())] * 2


def test_binary_accepts_bytes_like_objects():
    codec = WsCodec()
    for data in (b"ab", bytearray(b"ab"), memoryview(b"ab")):
        codec.send_binary(data)
    assert unmask_frames(codec.data_to_send()) == [(0x82, b"ab")] * 3


def test_send_rejects_non_bytes():
    with pytest.raises(TypeError):
        WsCodec().send_binary(12)


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 1 << 20])
def test_client_frames_are_masked_and_a_server_codec_reads_them(size):
    client = WsCodec(client=True)
    payload = bytes(i % 251 for i in range(size))
    client.send_binary(payload)
    wire = client.data_to_send()
    assert wire[1] & 0x80
    assert WsCodec().receive_data(wire) == [(BINARY, payload)]


def test_client_mask_keys_differ_between_frames():
    client = WsCodec(client=True)
    client.send_binary(b"x")
    client.send_binary(b"x")
    wire = client.data_to_send()
    assert wire[2:6] != wire[9:13]


def test_ping_pong_and_close_frames():
    codec = WsCodec()
    codec.send_ping(b"p")
    codec.send_pong()
    codec.send_close(1001, "going away")
    codec.send_close(None)
    assert unmask_frames(codec.data_to_send()) == [(0x89, b"p"), (0x8A, b""), (0x88, b"\x03\xe9going away"), (0x88, b"")]


@pytest.mark.parametrize("code", [1005, 1006, 999, 70000, -1])
def test_send_close_rejects_codes_not_allowed_on_the_wire(code):
    with pytest.raises(ValueError):
        WsCodec().send_close(code)


def test_send_close_rejects_long_reasons_and_ping_rejects_long_payloads():
    codec = WsCodec()
    with pytest.raises(ValueError):
        codec.send_close(1000, "x" * 124)
    with pytest.raises(ValueError):
        codec.send_ping(b"x" * 126)
    assert codec.output_size == 0


def test_send_frame_builds_fragmented_messages_a_peer_assembles():
    client = WsCodec(client=True)
    client.send_frame(TEXT, b"Hel", fin=False)
    client.send_frame(PING, b"!")
    client.send_frame(0, b"lo")
    assert WsCodec().receive_data(client.data_to_send()) == [(PING, b"!"), (TEXT, b"Hello")]


def test_data_to_send_drains_and_output_size_tracks_the_queue():
    codec = WsCodec()
    assert codec.data_to_send() == b""
    codec.send_binary(b"abc")
    assert codec.output_size == 5
    assert len(codec.data_to_send()) == 5
    assert codec.output_size == 0


def test_close_round_trip_between_codecs():
    client = WsCodec(client=True)
    client.send_close(4001, "done")
    assert WsCodec().receive_data(client.data_to_send()) == [(CLOSE, 4001, "done")]


def test_pong_round_trip():
    server = WsCodec()
    server.send_pong(b"pp")
    assert WsCodec(client=True).receive_data(server.data_to_send()) == [(PONG, b"pp")]


def test_large_bytes_messages_go_out_by_reference_in_wire_order():
    codec = WsCodec()
    big = bytes(range(256)) * 256  # 64 KiB
    codec.send_text(b"a")
    codec.send_binary(big)
    codec.send_ping(b"p")
    parts = codec.data_to_send_vectored()
    assert isinstance(parts, list)
    assert parts[0] == b"\x81\x01a" + b"\x82\x7f" + (len(big)).to_bytes(8, "big")
    assert parts[1] is big
    assert parts[2] == b"\x89\x01p"
    assert codec.output_size == 0


def test_output_size_counts_spliced_payloads_and_data_to_send_joins_them():
    codec = WsCodec()
    big = b"x" * (1 << 20)
    codec.send_binary(big)
    codec.send_binary(b"y")
    assert codec.output_size == 10 + len(big) + 3
    assert unmask_frames(codec.data_to_send()) == [(0x82, big), (0x82, b"y")]
    assert codec.data_to_send_vectored() == b""


def test_small_bytearray_and_client_messages_are_copied_into_one_bytes():
    codec = WsCodec()
    codec.send_binary(b"x" * 100)
    codec.send_binary(bytearray(b"z" * (1 << 17)))
    assert isinstance(codec.data_to_send_vectored(), bytes)
    client = WsCodec(client=True)
    client.send_binary(b"x" * (1 << 17))
    assert isinstance(client.data_to_send_vectored(), bytes)


def test_a_failure_close_stays_after_spliced_payloads():
    codec = WsCodec()
    big = b"x" * (1 << 16)
    codec.send_binary(big)
    codec.receive_data(bytes([0x83, 0x80, 0, 0, 0, 0]))  # reserved opcode: fail
    parts = codec.data_to_send_vectored()
    assert parts[1] is big
    assert parts[-1][0] == 0x88 and parts[-1][2:4] == b"\x03\xea"
