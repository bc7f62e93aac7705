"""The WebSocket opening handshake, server side (RFC 6455 §4.2), over a parsed ``Request``.

``is_websocket_upgrade`` decides which path a request takes; ``validate_upgrade`` checks it
(raising ``HttpError`` with the status to answer); ``select_subprotocol`` and
``negotiate_extensions`` pick what the server agrees to; ``accept_response`` builds the 101.
Sans-I/O: strings and bytes in, strings and bytes out.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Iterable, Sequence

from aigw import _codec
from aigw.protocol.http11 import HttpError, Request, serialize_response_head

__all__ = [
    "accept_key",
    "accept_response",
    "is_websocket_upgrade",
    "negotiate_extensions",
    "offered_subprotocols",
    "select_subprotocol",
    "validate_upgrade",
]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def is_websocket_upgrade(request: Request) -> bool:
    """Whether the request asks for a WebSocket (an `Upgrade` header listing `websocket`).
    Requests without it take the plain HTTP path."""
    # Asked of every request: the raw pairs (lowercase names from the parser) are scanned, so
    # a plain request does not build the name index it may never need.
    headers = request.headers
    found = _codec.has_field(headers.raw, b"upgrade")
    if found is None:  # not the parser's list of pairs
        found = any(name == b"upgrade" for name, _ in headers.raw)
    return found and "websocket" in headers.get_tokens("upgrade")


def validate_upgrade(request: Request) -> str:
    """Check an upgrade request; returns its Sec-WebSocket-Key. Raises HttpError: 405 for a
    method other than GET, 400 for HTTP/1.0, a missing `Connection: upgrade` or a bad key, 426
    (with `Sec-WebSocket-Version: 13`) for a missing or other version."""
    headers = request.headers
    if request.method != "GET":
        raise HttpError(405, "a WebSocket upgrade must use GET", [("allow", "GET")])
    if request.http_version != "1.1":
        raise HttpError(400, "a WebSocket upgrade needs HTTP/1.1")
    if "upgrade" not in headers.get_tokens("connection"):
        raise HttpError(400, "missing 'Connection: upgrade'")
    versions = headers.get_tokens("sec-websocket-version")
    if versions != ["13"]:
        raise HttpError(426, "unsupported Sec-WebSocket-Version; this server speaks 13",
                        [("sec-websocket-version", "13")])
    keys = headers.get_all("sec-websocket-key")
    if len(keys) != 1:
        raise HttpError(400, "missing or repeated Sec-WebSocket-Key")
    key = keys[0].strip()
    try:
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        raise HttpError(400, "Sec-WebSocket-Key is not the base64 of 16 bytes")
    return key


def accept_key(key: str) -> str:
    """Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode("ascii") + _GUID).digest()).decode("ascii")


def offered_subprotocols(request: Request) -> list[str]:
    """The Sec-WebSocket-Protocol values the client offered, in its order (case kept)."""
    return [t.strip() for v in request.headers.get_all("sec-websocket-protocol") for t in v.split(",") if t.strip()]


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """The first of the server's `supported` subprotocols that the client offered, else None."""
    for name in supported:
        if name in offered:
            return name
    return None


def negotiate_extensions(request: Request, *, deflate: bool, **deflate_options) -> tuple[str | None, object | None]:
    """permessage-deflate through ``_codec.negotiate_deflate`` when `deflate` is on.
    Returns (Sec-WebSocket-Extensions response value, DeflateParams), or (None, None).
    A malformed offer raises HttpError 400."""
    if not deflate:
        return None, None
    offers = request.headers.get_all("sec-websocket-extensions")
    if not offers:
        return None, None
    try:
        agreed = _codec.negotiate_deflate(", ".join(offers), **deflate_options)
    except ValueError as e:
        raise HttpError(400, f"malformed Sec-WebSocket-Extensions: {e}") from None
    if agreed is None:
        return None, None
    return agreed


def accept_response(
    key: str,
    *,
    subprotocol: str | None = None,
    extensions: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """The bytes of the 101 Switching Protocols response."""
    out = [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-accept", accept_key(key))]
    if subprotocol is not None:
        out.append(("sec-websocket-protocol", subprotocol))
    if extensions is not None:
        out.append(("sec-websocket-extensions", extensions))
    out.extend(headers)
    return serialize_response_head(101, out)
