"""Sans-I/O WebSocket connection (RFC 6455 §7 closing handshake) over ``_codec.WsCodec``.

The codec owns every byte: framing, masking, fragments, UTF-8, deflate, auto-pong. This module
owns the meaning of the closing handshake. Nothing here touches a socket or an event loop:
bytes go in through ``receive_data`` (or the codec's ``get_buffer`` + ``receive_buffered``),
events come out, and everything queued goes out through ``data_to_send``. The server's
WebSocket (``aigw.server.websocket``) holds one of these and runs ``deliver`` on every read,
so what the tests here check is the code the server runs.

Invariants (h11 style; every method keeps them):

- ``state`` only moves forward: OPEN -> CLOSING -> CLOSED, or OPEN -> CLOSED.
- OPEN: messages flow both ways.
- We send at most one close frame. ``send_close`` in OPEN queues it and moves to CLOSING;
  in CLOSING or CLOSED it does nothing.
- A peer CLOSE while OPEN queues our echo of its code (1005 "no code" is echoed as an empty
  close body) and moves straight to CLOSED: the caller flushes, then closes the transport
  (the server closes TCP first, RFC 6455 §7.1.1).
- A peer CLOSE while CLOSING (the reply to ours) moves to CLOSED and queues nothing.
- A FAIL event (the codec found a protocol violation and already queued a close frame with
  its code: 1002, 1007, 1009) moves to CLOSED with that code.
- Once CLOSED, input is ignored and ``receive_data`` returns no events; events that followed
  the closing event in the same batch are dropped.
- Sending a message in CLOSING or CLOSED raises ``LocalProtocolError``: the caller decides
  whether a late send is a bug (tests) or a race to ignore (the server drops them).
- ``close_code``/``close_reason`` describe how the connection ended: the peer's close when we
  received one, else ours, else None while the connection is open.
"""

from __future__ import annotations

from enum import IntEnum

from aigw import _codec

__all__ = [
    "BINARY",
    "CLOSE",
    "FAIL",
    "PING",
    "PONG",
    "TEXT",
    "LocalProtocolError",
    "State",
    "WebSocketConnection",
    "check_close_code",
]

TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA
FAIL = 0x100

NO_STATUS = 1005  # "no status code present": never sent on the wire (RFC 6455 §7.4.1)
MAX_REASON_BYTES = 123  # a control frame payload is at most 125 bytes, 2 of which are the code


class State(IntEnum):
    """Where a connection is in its closing handshake."""

    OPEN = 1
    CLOSING = 2
    CLOSED = 3


OPEN, CLOSING, CLOSED = State.OPEN, State.CLOSING, State.CLOSED


class LocalProtocolError(RuntimeError):
    """Our side tried something the protocol forbids in the current state."""


def _ignore(target, opcode: int, payload: bytes) -> None:
    """``apply``'s message callback: the events are returned instead."""


def check_close_code(code: int) -> None:
    """Raise ValueError unless `code` may be sent in a close frame (RFC 6455 §7.4)."""
    if not (1000 <= code <= 1014 or 3000 <= code <= 4999) or code in (1004, 1005, 1006):
        raise ValueError(f"close code {code} may not be sent")


class WebSocketConnection:
    """One server- or client-side WebSocket connection's protocol state over a ``WsCodec``.

    Events are the codec's tuples (see ``_codec.pyi``): ``(TEXT, bytes)``, ``(BINARY, bytes)``,
    ``(PING, bytes)``, ``(PONG, bytes)``, ``(CLOSE, code, reason)``, ``(FAIL, code, reason)``.
    """

    __slots__ = (
        "codec", "state", "close_code", "close_reason", "close_sent", "close_received", "ping_outstanding",
        "data_seen",
    )

    def __init__(self, codec: _codec.WsCodec | None = None, **codec_options) -> None:
        """Wrap `codec`, or build a server-side codec from `codec_options` (WsCodec's keywords)."""
        self.codec = codec if codec is not None else _codec.WsCodec(**codec_options)
        self.state = OPEN
        self.close_code: int | None = None
        self.close_reason = ""
        self.close_sent: tuple[int | None, str] | None = None
        self.close_received: tuple[int, str] | None = None
        #: A ping we sent has had no pong yet (any pong answers it, RFC 6455 §5.5.3).
        self.ping_outstanding = False
        #: A data message arrived since the owner last cleared this (idle tracking).
        self.data_seen = False

    # -- input --------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[tuple]:
        """Parse `data` and return the events it completes, with the closing handshake applied."""
        if self.state is CLOSED:
            return []
        return self.apply(self.codec.receive_data(data))

    def receive_buffered(self, nbytes: int) -> list[tuple]:
        """Like ``receive_data`` for `nbytes` written into the codec's ``get_buffer`` view."""
        if self.state is CLOSED:
            return []
        return self.apply(self.codec.buffer_updated(nbytes))

    def apply(self, events: list[tuple]) -> list[tuple]:
        """Apply the control events of a codec batch to the state; returns the events the
        caller should see (those up to and including the one that closed the connection)."""
        return events[: self.deliver(events, _ignore, None)]

    def deliver(self, events: list[tuple], on_message, target) -> int:
        """Apply a codec batch, handing each data message on as it comes:
        ``on_message(target, opcode, payload)`` for TEXT/BINARY, ``handle_control`` for the
        rest, stopping after the event that closed the connection. Returns how many events
        were consumed and sets ``data_seen`` when a data message was among them. An exception
        from `on_message` propagates and drops the rest of the batch. This is the loop the
        server runs per read (no per-message work beyond the call)."""
        active = False
        for event in events:
            opcode = event[0]
            if opcode < 3:  # TEXT or BINARY
                active = True
                on_message(target, opcode, event[1])
            else:
                self.handle_control(event)
                if self.state is CLOSED:
                    if active:
                        self.data_seen = True
                    return events.index(event) + 1
        if active:
            self.data_seen = True
        return len(events)

    def handle_control(self, event: tuple) -> None:
        """Apply one non-data event (a PING needs nothing: the codec already ponged)."""
        kind = event[0]
        if kind == PONG:
            self.ping_outstanding = False
        elif kind == CLOSE:
            code, reason = event[1], event[2]
            self.close_received = (code, reason)
            if self.state is OPEN:
                echo = None if code == NO_STATUS else code
                self.codec.send_close(echo, "")
                self.close_sent = (echo, "")
            self.state = CLOSED
            self.close_code, self.close_reason = code, reason
        elif kind == FAIL:
            # The codec already queued a close frame with this code and ignores further input.
            self.close_sent = (event[1], event[2])
            self.state = CLOSED
            self.close_code, self.close_reason = event[1], event[2]

    def terminate(self, code: int, reason: str) -> None:
        """The transport ended or was aborted before the closing handshake finished: move to
        CLOSED. A close code already known (the peer's, or ours once sent) is kept; otherwise
        `code` (1006 for a dropped connection, 1008 for a peer that stopped reading)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
        self.state = CLOSED

    # -- output -------------------------------------------------------------------------------

    def send_text(self, data: bytes | str) -> None:
        """Queue one text message (bytes must be valid UTF-8)."""
        if self.state is not OPEN:
            raise LocalProtocolError(f"cannot send a message in state {self.state.name}")
        self.codec.send_text(data)

    def send_binary(self, data: bytes | bytearray | memoryview) -> None:
        """Queue one binary message."""
        if self.state is not OPEN:
            raise LocalProtocolError(f"cannot send a message in state {self.state.name}")
        self.codec.send_binary(data)

    def send_ping(self, data: bytes = b"") -> None:
        """Queue a ping (allowed while OPEN only)."""
        if self.state is not OPEN:
            raise LocalProtocolError(f"cannot send a ping in state {self.state.name}")
        self.codec.send_ping(data)
        self.ping_outstanding = True

    def send_close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake: queue our close frame and move to CLOSING.
        `code` None sends an empty close body. A no-op once a close was sent or received."""
        if self.state is not OPEN:
            return
        if code is None:
            if reason:
                raise ValueError("a close reason needs a close code")
        else:
            check_close_code(code)
        if len(reason.encode()) > MAX_REASON_BYTES:
            raise ValueError(f"close reason longer than {MAX_REASON_BYTES} bytes")
        self.codec.send_close(code, reason)
        self.close_sent = (code, reason)
        self.close_code = NO_STATUS if code is None else code
        self.close_reason = reason
        self.state = CLOSING

    def data_to_send(self) -> bytes:
        """Drain and return everything queued (b"" when nothing is)."""
        return self.codec.data_to_send()
