"""Shared helpers for the simulator tests: loop factories and raw-wire helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import uvloop


def pytest_asyncio_loop_factories(
    config: pytest.Config, item: pytest.Item
) -> Mapping[str, Callable[[], asyncio.AbstractEventLoop]]:
    """Run every async simulator test on stock asyncio and on uvloop."""
    return {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


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
