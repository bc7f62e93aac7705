"""WsCodec.relay_buffered: one read's data messages queued on the other side's codec, framed
for its role, with no Python object per message (the realtime relay's hot path)."""

from aigw._codec import BINARY, CLOSE, FAIL, PING, RELAYED, TEXT, WsCodec
from ws_wire import unmask_frames


def feed(codec: WsCodec, wire: bytes, peer: WsCodec, report: bytes | None = None) -> list:
    view = codec.get_buffer(len(wire))
    view[: len(wire)] = wire
    return codec.relay_buffered(len(wire), peer, report)


def client_wire(*messages: tuple[int, bytes]) -> bytes:
    client = WsCodec(client=True)
    for opcode, payload in messages:
        (client.send_text if opcode == TEXT else client.send_binary)(payload)
    return client.data_to_send()


def test_client_messages_are_queued_masked_on_a_client_peer_and_not_returned():
    server, upstream = WsCodec(), WsCodec(client=True)
    events = feed(server, client_wire((BINARY, b"\x01" * 640), (TEXT, "é".encode())), upstream)
    assert events == []
    wire = upstream.data_to_send()
    assert wire[1] & 0x80  # masked: the upstream is a server
    assert WsCodec().receive_data(wire) == [(BINARY, b"\x01" * 640), (TEXT, "é".encode())]


def test_provider_messages_are_queued_unmasked_on_a_server_peer():
    upstream, client_side = WsCodec(client=True), WsCodec()
    server = WsCodec()
    server.send_binary(b"audio")
    server.send_text(b'{"type":"x"}')
    feed(upstream, server.data_to_send(), client_side)
    assert unmask_frames(client_side.data_to_send()) == [(0x82, b"audio"), (0x81, b'{"type":"x"}')]


def test_control_events_are_returned_in_order_and_relayed_messages_counted():
    client = WsCodec(client=True)
    client.send_binary(b"ab")
    client.send_ping(b"p")
    client.send_text(b"xyz")
    client.send_close(1000, "bye")
    server, upstream = WsCodec(), WsCodec(client=True)
    events = feed(server, client.data_to_send(), upstream)
    assert events == [(PING, b"p"), (CLOSE, 1000, "bye")]
    assert (server.relayed_messages, server.relayed_bytes) == (2, 5)


def test_messages_containing_the_report_marker_are_relayed_and_reported():
    server, upstream = WsCodec(), WsCodec(client=True)
    wire = client_wire((TEXT, b'{"type":"delta"}'), (TEXT, b'{"type":"response.done","usage":{}}'))
    events = feed(server, wire, upstream, b"response.done")
    assert events == [(RELAYED, TEXT, b'{"type":"response.done","usage":{}}')]
    assert len(WsCodec().receive_data(upstream.data_to_send())) == 2


def test_an_empty_report_marker_reports_every_message():
    server, upstream = WsCodec(), WsCodec(client=True)
    events = feed(server, client_wire((BINARY, b"a"), (BINARY, b"b")), upstream, b"")
    assert events == [(RELAYED, BINARY, b"a"), (RELAYED, BINARY, b"b")]


def test_invalid_utf8_text_fails_the_connection_and_is_not_relayed():
    client = WsCodec(client=True)
    client.send_frame(TEXT, b"\xff\xfe")
    server, upstream = WsCodec(), WsCodec(client=True)
    events = feed(server, client.data_to_send(), upstream)
    assert [e[:2] for e in events] == [(FAIL, 1007)]
    assert upstream.data_to_send() == b"" and server.relayed_messages == 0
