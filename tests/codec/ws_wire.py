"""A tiny independent RFC 6455 frame builder for the codec tests (pure Python, no aigw code)."""

import struct

KEY = b"\x37\xfa\x21\x3d"


def frame(first_byte: int, payload: bytes = b"", *, mask: bytes | None = KEY, length: int | None = None) -> bytes:
    """One frame: `first_byte` is FIN/RSV/opcode as on the wire; masked with `mask` unless None.
    `length` overrides the declared payload length (for header-only tests)."""
    n = len(payload) if length is None else length
    mbit = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([first_byte, mbit | n])
    elif n < 65536:
        head = bytes([first_byte, mbit | 126]) + struct.pack("!H", n)
    else:
        head = bytes([first_byte, mbit | 127]) + struct.pack("!Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def unmask_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Split serialized frames into (first_byte, unmasked payload) pairs."""
    out = []
    i = 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        i += 2
        if n == 126:
            (n,) = struct.unpack_from("!H", data, i)
            i += 2
        elif n == 127:
            (n,) = struct.unpack_from("!Q", data, i)
            i += 8
        key = None
        if b1 & 0x80:
            key = data[i : i + 4]
            i += 4
        payload = data[i : i + n]
        if key:
            payload = bytes(b ^ key[j % 4] for j, b in enumerate(payload))
        out.append((b0, payload))
        i += n
    return out
