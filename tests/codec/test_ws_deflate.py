"""permessage-deflate: negotiation (RFC 7692 §7.1) and compressed round trips (§7.2)."""

import pytest

from aigw._codec import BINARY, TEXT, DeflateParams, WsCodec, negotiate_deflate
from ws_wire import frame


def test_plain_offer_is_accepted():
    header, params = negotiate_deflate("permessage-deflate")
    assert header == "permessage-deflate"
    assert params == DeflateParams()


def test_browser_offer_with_valueless_client_max_window_bits_is_accepted():
    header, params = negotiate_deflate("permessage-deflate; client_max_window_bits")
    assert header == "permessage-deflate"
    assert params.client_max_window_bits == 15


def test_server_preferences_are_announced():
    header, params = negotiate_deflate(
        "permessage-deflate; client_max_window_bits",
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=12,
        client_max_window_bits=10,
    )
    assert header == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=10"
    )
    assert (params.server_max_window_bits, params.client_max_window_bits) == (12, 10)
    assert params.server_no_context_takeover and params.client_no_context_takeover


def test_offered_window_bits_are_lowered_not_raised():
    header, params = negotiate_deflate("permessage-deflate; server_max_window_bits=9; client_max_window_bits=11")
    assert header == "permessage-deflate; server_max_window_bits=9; client_max_window_bits=11"
    assert (params.server_max_window_bits, params.client_max_window_bits) == (9, 11)


def test_client_window_limit_is_not_imposed_on_a_client_that_did_not_offer_it():
    assert negotiate_deflate("permessage-deflate", client_max_window_bits=12) is None


@pytest.mark.parametrize(
    "offer",
    [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=16",
        "permessage-deflate; client_max_window_bits=010",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; mystery",
        "x-webkit-deflate-frame",
    ],
)
def test_unacceptable_offers_are_skipped_for_the_next(offer):
    assert negotiate_deflate(offer) is None
    header, _ = negotiate_deflate(offer + ", permessage-deflate; server_no_context_takeover")
    assert header == "permessage-deflate; server_no_context_takeover"


@pytest.mark.parametrize("offer", ["permessage-deflate;", "permessage-deflate; a=\"unterminated", "permessage-deflate x"])
def test_malformed_header_raises_value_error(offer):
    with pytest.raises(ValueError):
        negotiate_deflate(offer)


def test_deflate_params_reject_out_of_range_window_bits():
    with pytest.raises(ValueError):
        DeflateParams(server_max_window_bits=16)


def test_rfc7692_compressed_hello_from_a_client():
    codec = WsCodec(deflate=DeflateParams())
    assert codec.receive_data(frame(0xC1, bytes([0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]))) == [(TEXT, b"Hello")]


def test_rfc7692_compressed_fragments_and_uncompressed_messages_mix():
    codec = WsCodec(deflate=DeflateParams())
    data = frame(0x41, b"\xf2\x48") + frame(0x80, b"\xcd\xc9\xc9\x07\x00") + frame(0x81, b"plain")
    assert codec.receive_data(data) == [(TEXT, b"Hello"), (TEXT, b"plain")]


MESSAGES = [b'{"delta":"hello"}', b'{"delta":"hello world"}', b"", bytes(range(128)) * 600, "é€😀".encode() * 50]


@pytest.mark.parametrize(
    "offer, prefs",
    [
        ("permessage-deflate", {}),
        ("permessage-deflate; client_max_window_bits", {"client_max_window_bits": 8, "server_max_window_bits": 8}),
        ("permessage-deflate; server_no_context_takeover; client_no_context_takeover", {}),
        ("permessage-deflate; client_max_window_bits=12", {"server_max_window_bits": 10}),
    ],
)
def test_round_trip_in_both_directions_with_negotiated_params(offer, prefs):
    _, params = negotiate_deflate(offer, **prefs)
    server = WsCodec(deflate=params)
    client = WsCodec(client=True, deflate=params)
    for msg in MESSAGES * 2:
        client.send_text(msg)
        server.send_binary(msg)
    c2s = client.data_to_send()
    s2c = server.data_to_send()
    assert c2s[0] & 0x40 and s2c[0] & 0x40, "RSV1 marks compressed messages"
    assert server.receive_data(c2s) == [(TEXT, m) for m in MESSAGES * 2]
    assert client.receive_data(s2c) == [(BINARY, m) for m in MESSAGES * 2]


def test_context_takeover_shrinks_repeated_messages():
    server = WsCodec(deflate=DeflateParams())
    sizes = []
    for _ in range(3):
        server.send_text(b'{"choices":[{"delta":{"content":"token"}}]}')
        sizes.append(len(server.data_to_send()))
    assert sizes[1] < sizes[0]


def test_compressed_frames_are_readable_by_websockets():
    from websockets.extensions.permessage_deflate import PerMessageDeflate
    from websockets.frames import Frame, Opcode

    server = WsCodec(deflate=DeflateParams())
    server.send_text("hello hello hello")
    wire = server.data_to_send()
    ext = PerMessageDeflate(False, False, 15, 15)
    frame_ = Frame(Opcode.TEXT, wire[2:], fin=True, rsv1=bool(wire[0] & 0x40))
    assert ext.decode(frame_).data == b"hello hello hello"


def test_control_frames_are_never_compressed():
    server = WsCodec(deflate=DeflateParams())
    server.send_ping(b"p")
    server.send_close(1000)
    wire = server.data_to_send()
    assert wire[0] == 0x89 and wire[3] == 0x88
