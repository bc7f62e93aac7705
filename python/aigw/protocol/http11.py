"""Sans-I/O HTTP/1.1 server side (RFC 9112): requests in, response bytes out.

``_codec.parse_request_head`` parses heads; this module gives them meaning: the ``Request``
and ``Headers`` objects apps see, request body framing (Content-Length with a size limit,
chunked through the codec's ``ChunkedDecoder`` when it exists), keep-alive, and response
serialization (Content-Length for a body in hand, chunked for a streamed one).

``RequestReader`` is the state machine: feed bytes, take ``Request`` objects (complete with
body) or an ``HttpError`` that says which status to answer before closing. Nothing here
touches a socket.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from http import HTTPStatus
from urllib.parse import unquote

import orjson

from aigw import _codec

__all__ = [
    "Headers",
    "HttpError",
    "HttpResponse",
    "Request",
    "RequestReader",
    "chunk",
    "CONTINUE",
    "LAST_CHUNK",
    "error_response",
    "serialize_response_head",
]


class Headers:
    """Request headers: case-insensitive lookup over the raw list, which is kept as parsed
    (names lowercased bytes, values bytes). Values are decoded as latin-1 (RFC 9110 §5.5)."""

    __slots__ = ("raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.raw = raw
        self._map: dict[str, list[str]] | None = None

    def _index(self) -> dict[str, list[str]]:
        m: dict[str, list[str]] = {}
        for name, value in self.raw:
            m.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        self._map = m
        return m

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (any case), or `default`."""
        values = (self._map or self._index()).get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name`, in order (empty list when absent)."""
        return list((self._map or self._index()).get(name.lower(), ()))

    def get_tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every `name` header, stripped and lowercased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in (self._map or self._index())

    def __iter__(self):
        return ((n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


class Request:
    """One HTTP request (or WebSocket upgrade request) as the app sees it."""

    __slots__ = (
        "method", "target", "path", "query", "http_version", "headers", "client", "body",
        "tls", "subprotocols", "keep_alive",
    )

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        headers: Headers,
        *,
        client: tuple | None = None,
        body: bytes = b"",
        tls: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        raw_path, _, self.query = target.partition("?")
        self.path = unquote(raw_path)
        self.http_version = http_version
        self.headers = headers
        self.client = client
        self.body = body
        self.tls = tls
        #: Sec-WebSocket-Protocol values the client offered, in its order (upgrades only).
        self.subprotocols: list[str] = []
        #: Whether the connection may carry another request after this one.
        self.keep_alive = wants_keep_alive(http_version, headers)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} HTTP/{self.http_version}>"


def wants_keep_alive(http_version: str, headers: Headers) -> bool:
    """HTTP/1.1 keeps the connection unless `Connection: close`; 1.0 only on `keep-alive`."""
    tokens = headers.get_tokens("connection") if "connection" in headers else ()
    if http_version == "1.1":
        return "close" not in tokens
    return "keep-alive" in tokens


class HttpResponse:
    """A response from the app: a status, headers, and a body that is bytes (sent with
    Content-Length) or an async iterable of bytes (sent chunked, e.g. server-sent events)."""

    __slots__ = ("status", "headers", "body")

    def __init__(
        self,
        status: int = 200,
        body: bytes | str | AsyncIterable[bytes] = b"",
        headers: Iterable[tuple[str, str]] = (),
        *,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        self.body = body.encode() if isinstance(body, str) else body
        self.headers = list(headers)
        if content_type is not None:
            self.headers.append(("content-type", content_type))

    @classmethod
    def json(cls, obj: object, status: int = 200, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
        """A JSON response (orjson)."""
        return cls(status, orjson.dumps(obj), headers, content_type="application/json")

    @property
    def streaming(self) -> bool:
        """Whether the body is an async iterable (sent chunked)."""
        return not isinstance(self.body, (bytes, bytearray, memoryview))

    def __repr__(self) -> str:
        return f"<HttpResponse {self.status}>"


class HttpError(Exception):
    """A request the server answers itself with `status` and then closes the connection."""

    def __init__(self, status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
        self.headers = list(headers)


_REASONS = {s.value: s.phrase for s in HTTPStatus}


def serialize_response_head(
    status: int,
    headers: Iterable[tuple[str, str]],
    *,
    content_length: int | None = None,
    chunked: bool = False,
    close: bool = False,
) -> bytes:
    """The bytes of a response head. Framing headers (Content-Length, Transfer-Encoding,
    Connection: close) come from the keywords; app headers with those names are dropped."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    for name, value in headers:
        low = name.lower()
        if low in ("content-length", "transfer-encoding") or (low == "connection" and close):
            continue
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            raise ValueError(f"header {name!r} contains a line break")
        lines.append(f"{name}: {value}")
    if content_length is not None:
        lines.append(f"content-length: {content_length}")
    elif chunked:
        lines.append("transfer-encoding: chunked")
    if close:
        lines.append("connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (empty data yields nothing: it would end the body)."""
    return b"%x\r\n%b\r\n" % (len(data), data) if data else b""


LAST_CHUNK = b"0\r\n\r\n"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


def error_response(status: int, message: str, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A complete plain-text error response with `Connection: close`."""
    body = message.encode() + b"\n"
    return serialize_response_head(
        status, [("content-type", "text/plain; charset=utf-8"), *headers], content_length=len(body), close=True
    ) + body


class RequestReader:
    """Incremental request reader for one connection: heads via ``_codec.parse_request_head``,
    bodies by Content-Length or chunked (``_codec.ChunkedDecoder``), bounded by `max_body_size`.

    ``feed(data)`` appends bytes; ``next_request()`` returns a complete ``Request``, None when
    more bytes are needed, or raises ``HttpError`` (the connection must answer it and close).
    ``take_remaining()`` hands over bytes after the last request (the start of a WebSocket
    stream after an upgrade).
    """

    __slots__ = (
        "_buf", "_max_head", "_max_headers", "_max_body", "_pending", "_chunked", "_client", "_tls", "_continue",
    )

    def __init__(
        self,
        *,
        max_head_size: int = 16384,
        max_headers: int = 100,
        max_body_size: int = 16 * 1024 * 1024,
        client: tuple | None = None,
        tls: bool = False,
    ) -> None:
        self._buf = bytearray()
        self._max_head = max_head_size
        self._max_headers = max_headers
        self._max_body = max_body_size
        self._pending: tuple[Request, int] | None = None  # a head whose body is still arriving
        self._chunked: tuple[Request, _codec.ChunkedDecoder, bytearray] | None = None
        self._client = client
        self._tls = tls
        self._continue = False

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    @property
    def body_remaining(self) -> int:
        """Body bytes still missing for the request being read (0 when reading a head)."""
        if self._chunked is not None:
            return 1  # unknown until the last chunk
        return self._pending[1] - len(self._buf) if self._pending is not None else 0

    def next_request(self) -> Request | None:
        """The next complete request, or None when more bytes are needed. Raises HttpError."""
        if self._chunked is not None:
            return self._next_chunked()
        if self._pending is None:
            try:
                head = _codec.parse_request_head(self._buf, self._max_head, self._max_headers)
            except _codec.HttpParseError as e:
                status, message = e.args[0], e.args[1] if len(e.args) > 1 else "bad request"
                raise HttpError(status, message) from None
            if head is None:
                return None
            method, target, minor, raw_headers, consumed = head
            del self._buf[:consumed]
            request = Request(
                method, target, f"1.{minor}", Headers(raw_headers), client=self._client, tls=self._tls
            )
            length = self._body_length(request)
            if length != 0 and request.headers.get("expect", "").lower() == "100-continue":
                self._continue = True
            if length < 0:
                self._chunked = (request, _codec.ChunkedDecoder(), bytearray())
                return self._next_chunked()
            if length == 0:
                return request
            self._pending = (request, length)
        request, length = self._pending
        if len(self._buf) < length:
            return None
        with memoryview(self._buf) as view:
            request.body = bytes(view[:length])
        del self._buf[:length]
        self._pending = None
        return request

    def _next_chunked(self) -> Request | None:
        request, decoder, body = self._chunked
        if self._buf:
            data = bytes(self._buf)
            self._buf.clear()
            try:
                body += decoder.feed(data)
            except ValueError as e:
                raise HttpError(400, f"malformed chunked body: {e}") from None
            if len(body) > self._max_body:
                raise HttpError(413, f"request body larger than {self._max_body} bytes")
        if not decoder.done:
            return None
        self._buf[:0] = decoder.unused_data  # the start of the next request
        request.body = bytes(body)
        self._chunked = None
        return request

    def _body_length(self, request: Request) -> int:
        """Content-Length, 0 without a body, -1 for a chunked body."""
        headers = request.headers
        if "transfer-encoding" in headers:
            codings = headers.get_tokens("transfer-encoding")
            if codings != ["chunked"]:
                raise HttpError(501, f"unsupported transfer-encoding: {', '.join(codings)}")
            if "content-length" in headers:
                raise HttpError(400, "both transfer-encoding and content-length")
            return -1
        values = headers.get_all("content-length")
        if not values:
            return 0
        if len(set(values)) != 1 or not values[0].isdigit() or not values[0].isascii():
            raise HttpError(400, "invalid content-length")
        length = int(values[0])
        if length > self._max_body:
            raise HttpError(413, f"request body larger than {self._max_body} bytes")
        return length

    def take_continue(self) -> bool:
        """True once when the request being read asked for `Expect: 100-continue` and its body
        has not arrived: the server should send ``CONTINUE`` (RFC 9110 §10.1.1)."""
        wanted, self._continue = self._continue, False
        return wanted

    def take_remaining(self) -> bytes:
        """Remove and return every buffered byte not consumed by a request."""
        data = bytes(self._buf)
        self._buf.clear()
        return data
