"""What both WebSocket ends (server.websocket, upstream.websocket) do when their `read_relay`
(the realtime relay's per-read parser) raises: a bug in aigw, so that side is failed alone
(1011, the error logged) and its relay detached, so the rest of its input (the peer's close
reply) is read the plain way and the closing handshake completes; nothing reaches the loop.

The call site stays inline in each end's `buffer_updated` (a function call per read would add a
Python frame to every relayed frame); only the failure policy lives here.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["relay_failed"]

INTERNAL = 1011


def relay_failed(side: Any, log: logging.Logger) -> None:
    """Handle an exception raised by `side.read_relay` (call from its except block): log it,
    detach the relay and close `side` (anything with `read_relay` and `close(code, reason)`)
    with 1011."""
    log.exception("read_relay failed")
    side.read_relay = None
    side.close(INTERNAL, "internal error")
