"""Shared helpers for the simulator tests: raw-wire helpers.

Async tests here run on stock asyncio only (no loop factories hook): the simulators are test
tooling serving from their own thread, and what the test's loop runs is a stock client; the
gateway code is what the suite runs on both loops (see the loop rule in tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any


def data_frames(body: bytes, eol: bytes = b"\n") -> list[str]:
    """The ``data:`` payloads of an SSE body framed with ``eol``, comments skipped."""
    frames = [f for f in body.split(eol + eol) if f]
    out = []
    for frame in frames:
        lines = [line for line in frame.split(eol) if line.startswith(b"data: ")]
        out.extend(line[len(b"data: ") :].decode() for line in lines)
    return out


def json_frames(body: bytes, eol: bytes = b"\n") -> list[Any]:
    """The JSON ``data:`` payloads of an SSE body, ``[DONE]`` excluded."""
    return [json.loads(d) for d in data_frames(body, eol) if d != "[DONE]"]
