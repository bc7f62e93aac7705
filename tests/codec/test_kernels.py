"""The byte kernels exposed for benches: masking and UTF-8 validation on their own."""

from __future__ import annotations

import pytest

from aigw import _codec


def reference_mask(data: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(data))


@pytest.mark.parametrize("size", [0, 1, 7, 63, 64, 65, 1000, 4099])
def test_apply_mask_in_place_xors_with_the_repeating_key(size):
    data = bytes(range(256)) * (size // 256 + 1)
    buf = bytearray(data[:size])
    _codec.apply_mask_in_place(buf, b"\x12\x34\x56\x78")
    assert bytes(buf) == reference_mask(data[:size], b"\x12\x34\x56\x78")


def test_apply_mask_in_place_twice_restores_the_input():
    buf = bytearray(b"hello, websocket" * 100)
    _codec.apply_mask_in_place(buf, b"abcd")
    _codec.apply_mask_in_place(buf, b"abcd")
    assert buf == bytearray(b"hello, websocket" * 100)


def test_apply_mask_in_place_needs_a_four_byte_key():
    with pytest.raises(ValueError, match="4 bytes"):
        _codec.apply_mask_in_place(bytearray(8), b"abc")


def test_validate_utf8_accepts_text_and_rejects_broken_sequences():
    assert _codec.validate_utf8("Grüße 世界 🙂".encode() * 100)
    assert not _codec.validate_utf8(b"ok" * 100 + b"\xe4\xb8")  # truncated at the end
    assert not _codec.validate_utf8(b"\xed\xa0\x80")  # a UTF-16 surrogate


def test_mask_kernel_names_the_dispatched_kernel():
    assert _codec.mask_kernel() in {"avx2", "sse2", "u64"}
