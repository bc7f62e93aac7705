"""Shared inputs for the codec micro benchmarks: masked client frames and UTF-8 payloads.

Every benchmark records in ``benchmark.extra_info``: ``frames`` (messages handled per call),
``payload_bytes`` (payload bytes per call) and ``impl`` / ``op`` / ``size`` labels that
``report.py`` turns into the table (ns per frame, GB/s, ratio to aigw).
"""

from __future__ import annotations

import os

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Time in one process: the test suite's `-n 2` (pyproject addopts) would spread the benchmarks
    over xdist workers, where pytest-benchmark turns itself off."""
    if getattr(config.option, "numprocesses", None) is not None:
        config.option.numprocesses = 0
        config.option.dist = "no"


#: Input handed over per call for small frames: what one 64 KiB socket read would carry.
BATCH_BYTES = 64 * 1024
SIZES = {"16B": 16, "1KiB": 1024, "64KiB": 64 * 1024, "1MiB": 1024 * 1024}
MASK = bytes.fromhex("37fa213d")


def mask_bytes(payload: bytes, key: bytes = MASK) -> bytes:
    """`payload` XORed with the 4-byte key (setup only: a big-int XOR, no Python byte loop)."""
    n = len(payload)
    if not n:
        return b""
    k = int.from_bytes(key * (n // 4 + 1), "little")
    return (int.from_bytes(payload, "little") ^ k).to_bytes(n + 4, "little")[:n]


def client_frame(opcode: int, payload: bytes, key: bytes = MASK) -> bytes:
    """One complete masked client frame (FIN set), as a browser would send it."""
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + mask_bytes(payload, key)


def ascii_payload(size: int) -> bytes:
    """Printable ASCII, like a JSON request body."""
    unit = b'{"type":"universal.create","eventId":"e1","messages":[]}'
    return (unit * (size // len(unit) + 1))[:size]


def mixed_payload(size: int) -> bytes:
    """Mostly ASCII with 2-, 3- and 4-byte sequences, cut at a character boundary."""
    unit = "Grüße, 世界! naïve café – emoji 🙂 and plain ASCII text. ".encode()
    data = (unit * (size // len(unit) + 1))[:size]
    return data.decode("utf-8", "ignore").encode()


class Batch:
    """`frames` masked text frames of `size` payload bytes, concatenated."""

    def __init__(self, size: int, opcode: int = 0x1) -> None:
        self.size = size
        self.label = f"{size}B"
        self.payload = ascii_payload(size)
        frame = client_frame(opcode, self.payload)
        # small frames: as many as one 64 KiB read holds; large ones: 1 MiB worth per call
        budget = BATCH_BYTES if size < BATCH_BYTES else 1024 * 1024
        self.frames = max(1, budget // len(frame))
        self.data = frame * self.frames
        self.payload_bytes = size * self.frames


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def batch(request) -> Batch:
    b = Batch(SIZES[request.param])
    b.label = request.param
    return b


def label(benchmark, *, impl: str, op: str, size: str, frames: int, payload_bytes: int) -> None:
    """Record what one call does, for report.py."""
    benchmark.extra_info.update(
        impl=impl, op=op, size=size, frames=frames, payload_bytes=payload_bytes, pid=os.getpid()
    )
