"""The WebSocket opening handshake, client side (RFC 6455 §4.1), sans-I/O.

``new_key`` makes a Sec-WebSocket-Key, ``upgrade_request`` the bytes of the GET, and
``check_accept`` decides what a parsed 101 means: the subprotocol and permessage-deflate
parameters the server agreed to, or ``InvalidHandshake`` for an answer a client must refuse
(wrong Sec-WebSocket-Accept, a subprotocol or extension it did not offer). A status other than
101 is the caller's business (the upstream client relays it: ``HandshakeRejected``).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Sequence

from aigw import _codec
from aigw.protocol.handshake import accept_key

__all__ = ["DEFLATE_OFFER", "InvalidHandshake", "check_accept", "new_key", "upgrade_request"]

#: What a client offers for permessage-deflate (RFC 7692 §7.1.2.2: the server may cap our window).
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"

_FORBIDDEN = frozenset(b"\r\n\0")


class InvalidHandshake(ValueError):
    """A 101 the client must not accept (RFC 6455 §4.1: "_Fail the WebSocket Connection_")."""


def new_key() -> str:
    """A fresh Sec-WebSocket-Key: the base64 of 16 random bytes."""
    return base64.b64encode(os.urandom(16)).decode("ascii")


def upgrade_request(
    host: str,
    target: str,
    key: str,
    *,
    headers: Iterable[tuple[str, str]] = (),
    subprotocols: Sequence[str] = (),
    deflate: bool = False,
) -> bytes:
    """The bytes of the upgrade GET for `target` (path and query) on `host` (``host[:port]``).

    `headers` are extra fields (auth, provider versions); names the handshake owns are the
    caller's to leave out. Raises ValueError for a name or value with CR, LF or NUL (header
    injection) or an empty subprotocol."""
    fields = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if subprotocols:
        if not all(subprotocols) or any("," in p for p in subprotocols):
            raise ValueError("an offered subprotocol is empty or holds a comma")
        fields.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if deflate:
        fields.append(("Sec-WebSocket-Extensions", DEFLATE_OFFER))
    fields.extend(headers)
    out = [f"GET {target} HTTP/1.1\r\n".encode("latin-1")]
    for name, value in fields:
        raw_name, raw_value = name.encode("latin-1"), value.encode("latin-1")
        if not raw_name or _FORBIDDEN.intersection(raw_name) or _FORBIDDEN.intersection(raw_value) or b":" in raw_name:
            raise ValueError(f"header {name!r} cannot be sent")
        out.append(raw_name + b": " + raw_value + b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def _values(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [v.decode("latin-1") for n, v in headers if n == name]


def _tokens(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> list[str]:
    return [t.strip().lower() for v in _values(headers, name) for t in v.split(",") if t.strip()]


def check_accept(
    headers: Sequence[tuple[bytes, bytes]],
    key: str,
    *,
    subprotocols: Sequence[str] = (),
    deflate: bool = False,
) -> tuple[str | None, _codec.DeflateParams | None]:
    """Check a 101's `headers` (lowercase names, as ``parse_response_head`` gives them) against
    what we sent; return (the selected subprotocol or None, the deflate parameters or None).

    Raises InvalidHandshake: no `Upgrade: websocket` / `Connection: upgrade`, a wrong
    Sec-WebSocket-Accept, a subprotocol we did not offer (or several), an extension we did not
    offer or malformed deflate parameters."""
    if "websocket" not in _tokens(headers, b"upgrade"):
        raise InvalidHandshake("the 101 has no 'Upgrade: websocket'")
    if "upgrade" not in _tokens(headers, b"connection"):
        raise InvalidHandshake("the 101 has no 'Connection: upgrade'")
    accepts = _values(headers, b"sec-websocket-accept")
    if len(accepts) != 1 or accepts[0].strip() != accept_key(key):
        raise InvalidHandshake("wrong Sec-WebSocket-Accept")
    chosen = [t.strip() for v in _values(headers, b"sec-websocket-protocol") for t in v.split(",") if t.strip()]
    if len(chosen) > 1 or (chosen and chosen[0] not in subprotocols):
        raise InvalidHandshake("the server selected a subprotocol we did not offer")
    extensions = [e.strip() for v in _values(headers, b"sec-websocket-extensions") for e in v.split(",") if e.strip()]
    params = None
    if extensions:
        if not deflate or len(extensions) != 1:
            raise InvalidHandshake("the server selected an extension we did not offer")
        params = deflate_params(extensions[0])
    return (chosen[0] if chosen else None), params


def deflate_params(extension: str) -> _codec.DeflateParams:
    """The DeflateParams of a server's permessage-deflate response (RFC 7692 §7.1).
    Raises InvalidHandshake for another extension or a parameter a client cannot accept."""
    name, *raw = [p.strip() for p in extension.split(";")]
    if name.lower() != "permessage-deflate":
        raise InvalidHandshake(f"unsupported extension {name!r}")
    opts: dict[str, object] = {}
    for param in raw:
        pname, _, value = param.partition("=")
        pname, value = pname.strip().lower(), value.strip().strip('"')
        if pname in opts:
            raise InvalidHandshake(f"permessage-deflate parameter {pname} repeated")
        if pname in ("server_no_context_takeover", "client_no_context_takeover"):
            if value:
                raise InvalidHandshake(f"{pname} takes no value")
            opts[pname] = True
        elif pname in ("server_max_window_bits", "client_max_window_bits"):
            if not value.isdigit() or not 8 <= int(value) <= 15:
                raise InvalidHandshake(f"{pname} must be 8..15")
            opts[pname] = int(value)
        else:
            raise InvalidHandshake(f"unknown permessage-deflate parameter {pname!r}")
    return _codec.DeflateParams(**opts)  # type: ignore[arg-type]
