"""Helpers for the scripted raw servers of tests/upstream."""

from __future__ import annotations

import asyncio


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head (bodies in these tests carry Content-Length and are read too)."""
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            n = int(line.split(b":")[1])
            if n:
                head += await reader.readexactly(n)
    return head
