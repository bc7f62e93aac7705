"""A pure-Python reference WebSocket parser with exactly the event semantics of ``aigw._codec.WsCodec``.

Test support only: the differential tests feed the same bytes to this class, to the Rust codec
and to the ``websockets`` library and require identical events. It is written from RFC 6455
(framing, §5; closing, §7) and RFC 7692 (permessage-deflate) to be obviously correct, not fast:
one small state machine, bytes handled one frame piece at a time.

Events (tuples), as in ``_codec.pyi``:
  (TEXT, payload) (BINARY, payload) (PING, payload) (PONG, payload)
  (CLOSE, code, reason)  the peer's close frame; 1005 when it had no body; nothing is queued
  (FAIL, code, reason)   protocol violation; a close frame with `code` is queued and all
                         further input is ignored

Policy choices the RFC leaves open (the Rust codec must make the same ones):
- A 64-bit length with the top bit set fails (1002) as soon as the length is in; every other
  header check waits for the whole header (mask key included), then runs in this order:
  reserved opcode, reserved bits, control frame fragmented or longer than 125, masking,
  max_frame_size (1009, any frame), message sequencing (continuation without a message,
  RSV1 on a continuation, new message inside one), message size (1009, uncompressed data).
  A too-big frame is refused on its header, before its payload arrives.
- Text is UTF-8 checked fail-fast: every payload piece is pushed through an incremental decoder
  as soon as it arrives, so an invalid sequence fails the connection (1007) before the final
  fragment (or even the rest of the frame) arrives; a held incomplete sequence that no
  continuation could make valid fails at once too (`can_complete_utf8`); a truncated code
  point at the end of the message fails it.
- Non-minimal length encodings are accepted (as most stacks do).
- After the peer's CLOSE (or after a FAIL) all further input is ignored (RFC 6455 §1.4).
- A CLOSE in the middle of a fragmented message is delivered; the partial message is dropped.
- Undecodable compressed data fails the connection with 1007 ("invalid frame payload data"
  in the IANA registry; RFC 7692 names no code).
- A compressed text message that inflates past the size limit is first UTF-8 checked up to the
  limit: invalid text there fails with 1007, else the size with 1009, wherever the input was cut.
"""

from __future__ import annotations

import codecs
import itertools
import struct
import zlib

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
CONTINUATION = 0x0
FAIL = 0x100

DATA_OPCODES = {CONTINUATION, TEXT, BINARY}
CONTROL_OPCODES = {CLOSE, PING, PONG}

# RFC 6455 §7.4.1 plus the IANA registry: codes a peer may put in a close frame. 1004 is
# reserved, 1005/1006/1015 must never be sent; 3000-4999 are for libraries and applications.
VALID_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_close_code(code: int) -> bool:
    """Whether a peer may send `code` in a close frame."""
    return code in VALID_CLOSE_CODES or 3000 <= code <= 4999


def serialize_frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, mask: bytes | None = None) -> bytes:
    """One frame on the wire: `rsv` is the 3-bit RSV1..3 field; `mask` (4 bytes) masks it."""
    head = bytearray([(0x80 if fin else 0) | (rsv & 0x7) << 4 | (opcode & 0xF)])
    mask_bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n <= 125:
        head.append(mask_bit | n)
    elif n <= 0xFFFF:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    if mask is None:
        return bytes(head) + payload
    return bytes(head) + mask + apply_mask(payload, mask)


def apply_mask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR `data` with the 4-byte `mask`, starting at position `offset` of the masking key."""
    return bytes(b ^ mask[(offset + i) % 4] for i, b in enumerate(data))


# Every valid continuation byte range in UTF-8 (80-BF, 80-8F, 90-BF, 80-9F, A0-BF) has one of
# these at its edges, so trying them all finds a completion whenever one exists.
_CONTINUATION_EDGES = (0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF)


def can_complete_utf8(pending: bytes) -> bool:
    """Whether some continuation bytes would make `pending`, the incomplete tail of a text
    message, valid UTF-8. CPython's incremental decoder holds some prefixes that can never
    become valid (b"\xed\xa0" starts a surrogate) until the next byte; fail-fast must not wait."""
    if not pending:
        return True
    for n in range(1, 4 - len(pending) + 1):
        for tail in itertools.product(_CONTINUATION_EDGES, repeat=n):
            try:
                (pending + bytes(tail)).decode("utf-8")
                return True
            except UnicodeDecodeError:
                pass
    return False


class _Fail(Exception):
    """Internal: fail the connection with this close code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class ReferenceCodec:
    """The reference parser. Same constructor keywords and input/output methods as WsCodec."""

    def __init__(
        self,
        *,
        client: bool = False,
        max_message_size: int = 16 * 1024 * 1024,
        max_frame_size: int | None = None,
        auto_pong: bool = True,
        deflate: object | None = None,
    ) -> None:
        self.client = client
        self.max_message_size = max_message_size
        self.max_frame_size = max_frame_size
        self.auto_pong = auto_pong
        # With permessage-deflate, what the peer compresses with is what we inflate: as a
        # server the client's parameters matter. Inflating with a 15-bit window accepts any
        # smaller window the peer may have used.
        self.deflate = deflate
        self.reset_inflater_per_message = bool(
            deflate is not None
            and getattr(deflate, "server_no_context_takeover" if client else "client_no_context_takeover")
        )
        self.inflater = zlib.decompressobj(-15) if deflate is not None else None

        self.buffer = bytearray()  # received, not yet consumed
        self.output = bytearray()  # queued frames, drained by data_to_send()
        self.done = False  # after CLOSE or FAIL: ignore input

        # The frame being read (None between frames).
        self.frame: dict | None = None
        # The data message being assembled (None between messages).
        self.message_opcode: int | None = None
        self.message_compressed = False
        self.message_parts: list[bytes] = []
        self.message_size = 0  # uncompressed bytes so far
        self.utf8 = None  # incremental decoder while a text message is open

    # -- output -----------------------------------------------------------------------------

    def data_to_send(self) -> bytes:
        """Drain and return the queued frames."""
        out = bytes(self.output)
        self.output.clear()
        return out

    def _queue(self, opcode: int, payload: bytes) -> None:
        # A client masks what it sends (RFC 6455 §5.3); a fixed key keeps tests reproducible.
        self.output += serialize_frame(opcode, payload, mask=b"\x00\x00\x00\x00" if self.client else None)

    # -- input ------------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> list[tuple]:
        """Consume `data`, return the events it completes (see the module docstring)."""
        events: list[tuple] = []
        if self.done:
            return events
        self.buffer += data
        try:
            while not self.done and self._step(events):
                pass
        except _Fail as fail:
            self.done = True
            self.buffer.clear()
            self._queue(CLOSE, struct.pack("!H", fail.code) + fail.reason.encode()[:123])
            events.append((FAIL, fail.code, fail.reason))
        return events

    def _step(self, events: list[tuple]) -> bool:
        """Make progress on the current frame; False when more input is needed."""
        if self.frame is None:
            return self._read_header()
        if self.frame["opcode"] in CONTROL_OPCODES:
            return self._read_control_payload(events)
        return self._read_data_payload(events)

    def _read_header(self) -> bool:
        if len(self.buffer) < 2:
            return False
        b0, b1 = self.buffer[0], self.buffer[1]
        fin = bool(b0 & 0x80)
        rsv1, rsv23 = bool(b0 & 0x40), b0 & 0x30
        opcode = b0 & 0x0F
        masked = bool(b1 & 0x80)
        length7 = b1 & 0x7F

        # The extended length (RFC 6455 §5.2): the top bit of a 64-bit length MUST be 0.
        extra = {126: 2, 127: 8}.get(length7, 0)
        if len(self.buffer) < 2 + extra:
            return False
        if length7 == 126:
            (length,) = struct.unpack("!H", self.buffer[2:4])
        elif length7 == 127:
            (length,) = struct.unpack("!Q", self.buffer[2:10])
            if length >> 63:
                raise _Fail(1002, "64-bit frame length with the top bit set")
        else:
            length = length7
        header_size = 2 + extra + (4 if masked else 0)
        if len(self.buffer) < header_size:
            return False

        # The whole header is in: check it (RFC 6455 §5.2, §5.4, §5.5; RFC 7692 §6).
        is_control = opcode in CONTROL_OPCODES
        starts_message = opcode in (TEXT, BINARY)
        if opcode not in DATA_OPCODES and not is_control:
            raise _Fail(1002, f"reserved opcode {opcode:#x}")
        if rsv23:
            raise _Fail(1002, "reserved bits RSV2/RSV3 set")
        if rsv1 and (self.deflate is None or is_control):
            raise _Fail(1002, "reserved bit RSV1 set")
        if is_control and not fin:
            raise _Fail(1002, "fragmented control frame")
        if is_control and length > 125:
            raise _Fail(1002, "control frame longer than 125 bytes")
        if masked == self.client:
            raise _Fail(1002, "unmasked client frame" if not self.client else "masked server frame")
        if self.max_frame_size is not None and length > self.max_frame_size:
            raise _Fail(1009, f"frame of {length} bytes exceeds the {self.max_frame_size} limit")
        if opcode == CONTINUATION and self.message_opcode is None:
            raise _Fail(1002, "continuation frame without a message")
        if opcode == CONTINUATION and rsv1:
            raise _Fail(1002, "RSV1 set on a continuation frame")
        if starts_message and self.message_opcode is not None:
            raise _Fail(1002, "new message inside a fragmented message")
        # The compressed size says nothing about the message size; inflating checks that.
        compressed = rsv1 or (opcode == CONTINUATION and self.message_compressed)
        if not is_control and not compressed and self.message_size + length > self.max_message_size:
            raise _Fail(1009, f"message exceeds the {self.max_message_size} byte limit")

        mask = bytes(self.buffer[header_size - 4 : header_size]) if masked else None
        del self.buffer[:header_size]
        if starts_message:
            self.message_opcode = opcode
            self.message_compressed = rsv1
            self.message_parts = []
            self.message_size = 0
            self.utf8 = codecs.getincrementaldecoder("utf-8")() if opcode == TEXT else None
        self.frame = {"opcode": opcode, "fin": fin, "mask": mask, "remaining": length, "offset": 0}
        return True

    def _take_payload(self, n: int) -> bytes:
        """Consume up to `n` payload bytes of the current frame, unmasked."""
        frame = self.frame
        piece = bytes(self.buffer[:n])
        del self.buffer[: len(piece)]
        if frame["mask"] is not None:
            piece = apply_mask(piece, frame["mask"], frame["offset"])
        frame["offset"] += len(piece)
        frame["remaining"] -= len(piece)
        return piece

    def _read_control_payload(self, events: list[tuple]) -> bool:
        # Control payloads are at most 125 bytes: wait for all of it.
        frame = self.frame
        if len(self.buffer) < frame["remaining"]:
            return False
        payload = self._take_payload(frame["remaining"])
        self.frame = None
        opcode = frame["opcode"]
        if opcode == PING:
            if self.auto_pong:
                self._queue(PONG, payload)
            events.append((PING, payload))
        elif opcode == PONG:
            events.append((PONG, payload))
        else:
            events.append(self._parse_close(payload))
            self.done = True
        return True

    @staticmethod
    def _parse_close(payload: bytes) -> tuple:
        """RFC 6455 §5.5.1, §7.1.5-6: empty, or a 2-byte valid code and a UTF-8 reason."""
        if not payload:
            return (CLOSE, 1005, "")
        if len(payload) == 1:
            raise _Fail(1002, "close frame with a 1-byte body")
        (code,) = struct.unpack("!H", payload[:2])
        if not is_valid_close_code(code):
            raise _Fail(1002, f"invalid close code {code}")
        try:
            reason = payload[2:].decode("utf-8")
        except UnicodeDecodeError:
            raise _Fail(1007, "close reason is not valid UTF-8") from None
        return (CLOSE, code, reason)

    def _read_data_payload(self, events: list[tuple]) -> bool:
        frame = self.frame
        if frame["remaining"] > 0:
            if not self.buffer:
                return False
            piece = self._take_payload(frame["remaining"])
            self._add_to_message(self._inflate(piece) if self.message_compressed else piece)
            if frame["remaining"] > 0:
                return False
        self.frame = None
        if frame["fin"]:
            self._finish_message(events)
        return True

    def _inflate(self, data: bytes) -> bytes:
        """Inflate without ever producing more than the message budget allows (bomb guard)."""
        budget = self.max_message_size - self.message_size
        out = bytearray()
        try:
            while data:
                out += self.inflater.decompress(data, budget - len(out) + 1)
                if len(out) > budget:
                    # Text up to the limit is checked first: the failure must not depend on
                    # where the input was cut (one cut may end before the bad text, one after).
                    self._check_text(bytes(out[:budget]))
                    raise _Fail(1009, f"message exceeds the {self.max_message_size} byte limit")
                data = self.inflater.unconsumed_tail
        except zlib.error:
            raise _Fail(1007, "invalid compressed data") from None
        return bytes(out)

    def _add_to_message(self, data: bytes) -> None:
        if not data:
            return
        if self.message_size + len(data) > self.max_message_size:
            raise _Fail(1009, f"message exceeds the {self.max_message_size} byte limit")
        self.message_size += len(data)
        self._check_text(data)
        self.message_parts.append(data)

    def _check_text(self, data: bytes) -> None:
        """Push the next piece of a text message through the UTF-8 check (fail-fast, 1007)."""
        if self.utf8 is not None:
            try:
                self.utf8.decode(data, final=False)
            except UnicodeDecodeError:
                raise _Fail(1007, "invalid UTF-8 in text message") from None
            if not can_complete_utf8(self.utf8.getstate()[0]):
                raise _Fail(1007, "invalid UTF-8 in text message")

    def _finish_message(self, events: list[tuple]) -> None:
        if self.message_compressed:
            # RFC 7692 §7.2.2: the sender removed this empty stored block's tail.
            self._add_to_message(self._inflate(b"\x00\x00\xff\xff"))
            if self.reset_inflater_per_message:
                self.inflater = zlib.decompressobj(-15)
        if self.utf8 is not None:
            try:
                self.utf8.decode(b"", final=True)
            except UnicodeDecodeError:
                raise _Fail(1007, "text message ends inside a UTF-8 sequence") from None
        events.append((self.message_opcode, b"".join(self.message_parts)))
        self.message_opcode = None
        self.message_compressed = False
        self.message_parts = []
        self.message_size = 0
        self.utf8 = None
