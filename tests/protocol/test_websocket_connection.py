"""WebSocketConnection: the RFC 6455 §7 closing handshake, bytes in and bytes out, no sockets.

The peer is a real client-side codec (``WsCodec(client=True)``) producing masked frames."""

import pytest

from aigw import _codec
from aigw.protocol.websocket import (
    BINARY,
    CLOSE,
    CLOSED,
    CLOSING,
    FAIL,
    OPEN,
    TEXT,
    LocalProtocolError,
    WebSocketConnection,
)


def client_bytes(*sends) -> bytes:
    """Masked frames from a client codec: each send is (method name, *args)."""
    client = _codec.WsCodec(client=True)
    for name, *args in sends:
        getattr(client, name)(*args)
    return client.data_to_send()


def decode_server_output(data: bytes) -> list[tuple]:
    """Parse what the server queued, as a client would."""
    return _codec.WsCodec(client=True).receive_data(data)


def test_text_and_binary_messages_come_out_as_events():
    conn = WebSocketConnection()
    events = conn.receive_data(client_bytes(("send_text", "héllo"), ("send_binary", b"\x00\xff")))
    assert events == [(TEXT, "héllo".encode()), (BINARY, b"\x00\xff")]
    assert conn.state is OPEN


def test_sent_messages_are_framed_for_the_peer():
    conn = WebSocketConnection()
    conn.send_text("hi")
    conn.send_binary(b"\x01")
    assert decode_server_output(conn.data_to_send()) == [(TEXT, b"hi"), (BINARY, b"\x01")]


def test_peer_close_while_open_echoes_its_code_and_closes():
    conn = WebSocketConnection()
    events = conn.receive_data(client_bytes(("send_close", 4001, "bye")))
    assert events == [(CLOSE, 4001, "bye")]
    assert conn.state is CLOSED
    assert (conn.close_code, conn.close_reason) == (4001, "bye")
    assert decode_server_output(conn.data_to_send()) == [(CLOSE, 4001, "")]


def test_peer_close_without_code_is_echoed_with_an_empty_body():
    conn = WebSocketConnection()
    conn.receive_data(client_bytes(("send_close", None)))
    assert conn.close_code == 1005
    assert conn.data_to_send() == b"\x88\x00"


def test_our_close_waits_for_the_peers_close():
    conn = WebSocketConnection()
    conn.send_close(1001, "going away")
    assert conn.state is CLOSING
    assert decode_server_output(conn.data_to_send()) == [(CLOSE, 1001, "going away")]
    events = conn.receive_data(client_bytes(("send_close", 1001, "")))
    assert events == [(CLOSE, 1001, "")]
    assert conn.state is CLOSED
    assert conn.data_to_send() == b""  # the reply to our close is not answered


def test_messages_still_arrive_while_closing():
    conn = WebSocketConnection()
    conn.send_close()
    assert conn.receive_data(client_bytes(("send_text", "late"))) == [(TEXT, b"late")]


def test_protocol_violation_fails_with_the_codecs_code():
    conn = WebSocketConnection()
    unmasked_text = b"\x81\x02hi"
    events = conn.receive_data(unmasked_text)
    assert events[-1][0] == FAIL and events[-1][1] == 1002
    assert conn.state is CLOSED and conn.close_code == 1002
    assert decode_server_output(conn.data_to_send())[0][:2] == (CLOSE, 1002)


def test_invalid_utf8_fails_with_1007():
    conn = WebSocketConnection()
    conn.receive_data(client_bytes(("send_frame", TEXT, b"\xff\xfe")))
    assert conn.state is CLOSED and conn.close_code == 1007


def test_oversized_message_fails_with_1009():
    conn = WebSocketConnection(max_message_size=10)
    conn.receive_data(client_bytes(("send_binary", b"x" * 11)))
    assert conn.state is CLOSED and conn.close_code == 1009


def test_events_after_the_closing_event_are_dropped():
    conn = WebSocketConnection()
    events = conn.receive_data(client_bytes(("send_close", 1000, ""), ("send_text", "after")))
    assert events == [(CLOSE, 1000, "")]


def test_input_after_closed_is_ignored():
    conn = WebSocketConnection()
    conn.receive_data(client_bytes(("send_close", 1000, "")))
    assert conn.receive_data(client_bytes(("send_text", "ignored"))) == []


def test_sending_a_message_after_close_is_a_local_error():
    conn = WebSocketConnection()
    conn.send_close()
    with pytest.raises(LocalProtocolError):
        conn.send_text("too late")


def test_close_is_sent_once():
    conn = WebSocketConnection()
    conn.send_close(1000)
    first = conn.data_to_send()
    conn.send_close(1001)
    assert first and conn.data_to_send() == b""


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2999, 5000])
def test_unsendable_close_codes_are_refused(code):
    with pytest.raises(ValueError):
        WebSocketConnection().send_close(code)


def test_pings_are_answered_by_the_codec():
    conn = WebSocketConnection()
    events = conn.receive_data(client_bytes(("send_ping", b"p")))
    assert events == [(_codec.PING, b"p")]
    assert decode_server_output(conn.data_to_send()) == [(_codec.PONG, b"p")]


# -- deliver: the loop the server runs on every read ---------------------------------------------


def test_deliver_hands_data_messages_on_in_order_and_applies_controls():
    conn = WebSocketConnection()
    seen = []
    batch = _codec.WsCodec().receive_data(client_bytes(("send_text", "a"), ("send_ping", b"p"), ("send_binary", b"b")))
    consumed = conn.deliver(batch, lambda target, opcode, payload: seen.append((target, opcode, payload)), "ws")
    assert consumed == 3
    assert seen == [("ws", TEXT, b"a"), ("ws", BINARY, b"b")]
    assert conn.data_seen is True and conn.state is OPEN


def test_deliver_stops_after_the_closing_event():
    conn = WebSocketConnection()
    seen = []
    batch = conn.codec.receive_data(client_bytes(("send_text", "a"), ("send_close", 1000, ""), ("send_text", "after")))
    consumed = conn.deliver(batch, lambda target, opcode, payload: seen.append(payload), None)
    assert consumed == 2
    assert seen == [b"a"]
    assert conn.state is CLOSED and conn.close_code == 1000


def test_deliver_of_controls_only_is_not_data():
    conn = WebSocketConnection()
    conn.deliver(conn.codec.receive_data(client_bytes(("send_ping", b"p"))), None, None)
    assert conn.data_seen is False


def test_an_exception_from_the_message_callback_propagates_and_drops_the_rest():
    conn = WebSocketConnection()
    seen = []

    def on_message(target, opcode, payload):
        seen.append(payload)
        raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError):
        conn.deliver(conn.codec.receive_data(client_bytes(("send_text", "a"), ("send_text", "b"))), on_message, None)
    assert seen == [b"a"]


def test_a_pong_answers_our_ping():
    conn = WebSocketConnection()
    conn.send_ping(b"k")
    assert conn.ping_outstanding is True
    conn.receive_data(client_bytes(("send_pong", b"k")))
    assert conn.ping_outstanding is False


def test_terminate_reports_a_dropped_connection_as_1006():
    conn = WebSocketConnection()
    conn.terminate(1006, "connection lost")
    assert (conn.state, conn.close_code, conn.close_reason) == (CLOSED, 1006, "connection lost")


def test_terminate_keeps_a_close_code_already_known():
    conn = WebSocketConnection()
    conn.send_close(4000, "ours")
    conn.terminate(1006, "connection lost")
    assert (conn.state, conn.close_code, conn.close_reason) == (CLOSED, 4000, "ours")


def test_the_server_connection_runs_this_protocol():
    from aigw.server.websocket import WebSocket

    assert not issubclass(WebSocket, WebSocketConnection)  # composition, not inheritance
    assert "protocol" in WebSocket.__slots__
