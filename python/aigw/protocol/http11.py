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

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from http import HTTPStatus
from typing import Protocol
from urllib.parse import unquote

import orjson

from aigw import _codec
from aigw.slots_maker import slot_writer

__all__ = [
    "Headers",
    "READER_PARTS",
    "REASONS",
    "HttpError",
    "HttpResponse",
    "Request",
    "RequestReader",
    "chunk",
    "CONTINUE",
    "END_OF_MESSAGE",
    "LAST_CHUNK",
    "error_response",
    "serialize_response_head",
    "whole_response",
]


class Headers:
    """Request headers: case-insensitive lookup over the raw list, which is kept as parsed
    (names lowercased bytes, values bytes). Values are decoded as latin-1 (RFC 9110 §5.5)."""

    __slots__ = ("raw", "_map")

    def __init__(self, raw: list[tuple[bytes, bytes]], index: dict[str, list[str]] | None = None) -> None:
        self.raw = raw
        #: name → values, as `_index` builds it (on the first look-up by name).
        self._map: dict[str, list[str]] | None = index

    def _index(self) -> dict[str, list[str]]:
        # Built once per request, on the first lookup (natively for a list of bytes pairs, the
        # parser's). Names come lowercased from the parser.
        m = _codec.index_fields(self.raw)
        if m is not None:
            self._map = m
            return m
        m = {}
        for name, value in self.raw:
            key = name.decode("latin-1")
            values = m.get(key)
            if values is None:
                m[key] = [value.decode("latin-1")]
            else:
                values.append(value.decode("latin-1"))
        self._map = m
        return m

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (any case), or `default`."""
        values = (self._map if self._map is not None else self._index()).get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name`, in order (empty list when absent)."""
        return list((self._map if self._map is not None else self._index()).get(name.lower(), ()))

    def get_tokens(self, name: str) -> list[str]:
        """The comma-separated tokens of every `name` header, stripped and lowercased."""
        return [t.strip().lower() for v in self.get_all(name) for t in v.split(",") if t.strip()]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in (self._map if self._map is not None else self._index())

    def by_name(self) -> dict[str, list[str]]:
        """Each header name (lowercase when the server's parser read them) with its values in
        order, decoded. The map itself, not a copy: do not change it."""
        return self._map if self._map is not None else self._index()

    def last_values(self) -> dict[str, str]:
        """Each header name once (lowercase, in the order first seen) with its last value:
        what a dict built from iterating the headers would hold, without decoding again."""
        return {name: values[-1] for name, values in (self._map if self._map is not None else self._index()).items()}

    def __iter__(self):
        return ((n.decode("latin-1"), v.decode("latin-1")) for n, v in self.raw)

    def __len__(self) -> int:
        return len(self.raw)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"


class Request:
    """One HTTP request (or WebSocket upgrade request) as the app sees it.

    The body comes in one of two ways. Read whole (the server's default): ``body`` is the
    complete body when the app is called. Streamed (an app that sets
    ``streams_request_bodies``, see ``aigw.server.app``): the app is called once the head is
    in, and takes the body with ``async for chunk in request.stream()`` or
    ``await request.read()``; ``body`` then raises until ``read()`` has returned. Either way
    the body limit applies (413) and ``stream()``/``read()`` work, so code written for the
    streamed form runs on both.
    """

    __slots__ = (
        "method", "target", "path", "query", "http_version", "headers", "client", "_body",
        "_source", "tls", "subprotocols", "keep_alive",
    )

    def __init__(
        self,
        method: str,
        target: str,
        http_version: str,
        headers: Headers,
        *,
        client: tuple | None = None,
        body: bytes | None = b"",
        tls: bool = False,
        keep_alive: bool | None = None,
    ) -> None:
        self.method = method
        self.target = target
        self.path, self.query = _path_and_query(target)
        self.http_version = http_version
        self.headers = headers
        self.client = client
        self._body = body
        self._source: BodySource | None = None
        self.tls = tls
        #: Sec-WebSocket-Protocol values the client offered, in its order (upgrades only).
        self.subprotocols: list[str] = []
        #: Whether the connection may carry another request after this one (`keep_alive`
        #: when the caller worked it out already, as the server's parser does).
        self.keep_alive = wants_keep_alive(http_version, headers) if keep_alive is None else keep_alive

    @property
    def body(self) -> bytes:
        """The whole body. Raises RuntimeError while it is still streaming (use ``read()``)."""
        if self._body is None:
            raise RuntimeError("the request body is streamed: use `await request.read()` or `request.stream()`")
        return self._body

    @body.setter
    def body(self, value: bytes) -> None:
        self._body = value

    def attach_body(self, source: BodySource) -> None:
        """Server side: the body will arrive through `source` (``body`` raises until read)."""
        self._body = None
        self._source = source

    def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, chunk by chunk (each chunk non-empty). Raises ``HttpError``
        (413) when the body passes the limit; can be consumed once."""
        if self._body is not None:
            return _OneChunk(self._body)
        assert self._source is not None
        return self._source.__aiter__()

    async def read(self) -> bytes:
        """The whole body (read now if it is streaming; the body limit still applies)."""
        if self._body is None:
            parts = bytearray()
            async for piece in self.stream():
                parts += piece
            self._body = bytes(parts)
        return self._body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.target} HTTP/{self.http_version}>"


def _path_and_query(target: str) -> tuple[str, str]:
    """A request target's path (percent-decoded) and raw query (without "?")."""
    raw_path, _, query = target.partition("?")
    return (unquote(raw_path) if "%" in raw_path else raw_path), query


# The usual request's headers, made without a Python `__init__` frame (what `Headers(raw)`
# makes): their name index is built on the first look-up by name, which most requests never make.
_headers_slots = slot_writer(Headers, ("raw",), {"_map": None})

# The reader's usual request, made in one native call (aigw.slots_maker.slot_writer) by
# `_codec.take_whole_request`: what `Request(...)` leaves, the path split as `_path_and_query`.
_request_slots = slot_writer(
    Request,
    ("method", "target", "path", "query", "http_version", "headers", "client", "_body", "tls", "subprotocols", "keep_alive"),
    {"_source": None},
)


class BodySource(Protocol):
    """Where a streamed request body comes from (the server's per-request body channel)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class _OneChunk:
    """An async iterator over a body already in hand: the body once, or nothing when empty."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def __aiter__(self) -> _OneChunk:
        return self

    async def __anext__(self) -> bytes:
        data, self._data = self._data, b""
        if not data:
            raise StopAsyncIteration
        return data


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


#: Status code → reason phrase (what heads say; "Unknown" for a code not listed).
REASONS = {s.value: s.phrase for s in HTTPStatus}


def serialize_response_head(
    status: int,
    headers: Iterable[tuple[str, str]],
    *,
    content_length: int | None = None,
    chunked: bool = False,
    close: bool = False,
) -> bytes:
    """The bytes of a response head. Framing headers (Content-Length, Transfer-Encoding,
    Connection: close) come from the keywords; app headers with those names are dropped.
    ValueError for a header with a line break or a character past U+00FF (written in Rust)."""
    return _codec.serialize_response_head(status, REASONS.get(status, "Unknown"), headers, content_length, chunked, close)


def whole_response(status: int, headers: Iterable[tuple[str, str]], body: bytes, *, close: bool = False) -> bytes:
    """A whole response's bytes: `serialize_response_head(status, headers,
    content_length=len(body), close=close)` followed by `body`, built in one buffer (Rust)."""
    return _codec.whole_response(status, REASONS.get(status, "Unknown"), headers, body, close)


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


#: ``RequestReader.next_event`` result: the body of the current request is complete.
END_OF_MESSAGE = object()

_HEAD, _LENGTH, _CHUNKED, _END = range(4)
_VERSIONS = tuple(f"1.{minor}" for minor in range(10))  # the parser's minor version → http_version


def _head_error(error: Exception) -> HttpError:
    """The HttpError for the Rust head parser's HttpParseError (args: status, message)."""
    return HttpError(error.args[0], error.args[1] if len(error.args) > 1 else "bad request")


class RequestReader:
    """Incremental request reader for one connection: heads via ``_codec.parse_request_head``,
    bodies by Content-Length or chunked (``_codec.ChunkedDecoder``), bounded by `max_body_size`.

    ``feed(data)`` appends bytes. Two ways to take requests out (do not mix them on one
    request): ``next_request()`` returns a ``Request`` complete with its body; ``next_event()``
    returns the head (a ``Request`` whose body is still to come), then the body's bytes as they
    arrive, then ``END_OF_MESSAGE``. Both return None when more bytes are needed and raise
    ``HttpError`` (the connection must answer it and close). ``take_remaining()`` hands over
    bytes after the last request (the start of a WebSocket stream after an upgrade).
    """

    __slots__ = (
        "_buf", "_max_head", "_max_headers", "_max_body", "_state", "_remaining", "_decoder",
        "_body_size", "_partial", "_parts", "_client", "_tls", "_continue", "_scanned",
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
        self._state = _HEAD
        self._remaining = 0  # Content-Length bytes still to come
        self._decoder: _codec.ChunkedDecoder | None = None
        self._body_size = 0  # decoded chunked bytes so far (for the limit)
        self._partial: Request | None = None  # next_request: a head whose body is arriving
        self._parts: list[bytes] = []
        self._client = client
        self._tls = tls
        self._continue = False
        self._scanned = 0  # bytes of an incomplete head already searched for its end

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        """Append received bytes."""
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    @property
    def in_body(self) -> bool:
        """Whether the body of the current request is still being read (its head is in)."""
        return self._state is not _HEAD

    @property
    def pending(self) -> bool:
        """Whether anything is left to take: bytes not yet consumed, or a request whose head
        is in and whose body is still being read. False: the reader waits for new bytes."""
        return bool(self._buf) or self._state is not _HEAD

    @property
    def has_body(self) -> bool:
        """Whether body bytes of the current request are still to come (its head is in)."""
        return self._state is _LENGTH or self._state is _CHUNKED

    def next_event(self) -> Request | bytes | object | None:
        """The next piece of the stream: a ``Request`` head (its body to come), body bytes
        (non-empty), ``END_OF_MESSAGE``, or None when more bytes are needed. Raises HttpError."""
        state = self._state
        if state is _HEAD:
            return self._read_head()
        if state is _LENGTH:
            if not self._buf:
                return None
            n = min(len(self._buf), self._remaining)
            with memoryview(self._buf) as view:
                data = bytes(view[:n])
            del self._buf[:n]
            self._remaining -= n
            if self._remaining == 0:
                self._state = _END
            return data
        if state is _CHUNKED:
            if not self._buf:
                return None
            data = bytes(self._buf)
            self._buf.clear()
            try:
                data = self._decoder.feed(data)
            except ValueError as e:
                raise HttpError(400, f"malformed chunked body: {e}") from None
            self._body_size += len(data)
            if self._body_size > self._max_body:
                raise HttpError(413, f"request body larger than {self._max_body} bytes")
            if self._decoder.done:
                self._buf[:0] = self._decoder.unused_data  # the start of the next request
                self._decoder = None
                self._state = _END
            return data if data else (self.next_event() if self._state is _END else None)
        self._state = _HEAD  # _END
        return END_OF_MESSAGE

    def _parse_head(self) -> tuple | None:
        """The Rust parser's head tuple (see `_codec.parse_request_head`), or None when the
        head is not all here yet."""
        try:
            head = _codec.parse_request_head(self._buf, self._max_head, self._max_headers, start_hint=self._scanned, index=True)
        except _codec.HttpParseError as e:
            raise _head_error(e) from None
        if head is None:
            self._scanned = len(self._buf)
            return None
        self._scanned = 0
        return head

    def _read_head(self, head: tuple | None = None) -> Request | None:
        """The next request's head (its body to come): parsed here, or `head` already parsed."""
        if head is None:
            head = self._parse_head()
            if head is None:
                return None
        method, target, minor, raw_headers, consumed, index = head[:6]
        del self._buf[:consumed]
        request = Request(method, target, _VERSIONS[minor], Headers(raw_headers, index), client=self._client, tls=self._tls)
        length = self._body_length(request)
        if length != 0 and request.headers.get("expect", "").lower() == "100-continue":
            self._continue = True
        if length < 0:
            self._state = _CHUNKED
            self._decoder = _codec.ChunkedDecoder()
            self._body_size = 0
        elif length > 0:
            self._state = _LENGTH
            self._remaining = length
        else:
            self._state = _END
        return request

    def next_request(self) -> Request | None:
        """The next complete request with its body, or None when more bytes are needed.
        Raises HttpError."""
        request = self._partial
        if request is None:
            if not self._buf or self._state is not _HEAD:
                return None  # nothing buffered: the usual answer after each request
            # The usual request, its body (or none) all here and plainly framed, is taken and
            # made in one native call; otherwise that call gives the head, framed below.
            try:
                head = _codec.take_whole_request(
                    self._buf, self._max_head, self._max_headers, self._scanned, self._max_body,
                    _request_slots, _headers_slots, self._client, self._tls, unquote,
                )  # fmt: skip
            except _codec.HttpParseError as e:
                raise _head_error(e) from None
            if head.__class__ is not tuple:
                self._scanned = len(self._buf) if head is None else 0
                return head
            self._scanned = 0
            request = self._read_head(head)
            assert request is not None
            self._partial, self._parts = request, []
        state = self._state
        if state is _LENGTH:
            n = self._remaining
            if len(self._buf) < n:
                return None  # wait for the whole body: then it is copied once
            if not self._parts:  # the usual request: all of its body is here, taken in one step
                with memoryview(self._buf) as view:
                    request.body = bytes(view[:n])
                del self._buf[:n]
                self._remaining = 0
                self._state, self._partial = _HEAD, None
                return request
        elif state is _END:  # no body
            self._state, self._partial = _HEAD, None
            return request
        while (event := self.next_event()) is not None:
            if event is END_OF_MESSAGE:
                parts = self._parts
                request.body = parts[0] if len(parts) == 1 else b"".join(parts)
                self._partial, self._parts = None, []
                return request
            self._parts.append(event)
        return None

    def _body_length(self, request: Request) -> int:
        """Content-Length, 0 without a body, -1 for a chunked body."""
        headers = request.headers
        by_name = headers.by_name()  # lowercase names: plain dict look-ups
        if "transfer-encoding" in by_name:
            codings = headers.get_tokens("transfer-encoding")
            if codings != ["chunked"]:
                raise HttpError(501, f"unsupported transfer-encoding: {', '.join(codings)}")
            if "content-length" in by_name:
                raise HttpError(400, "both transfer-encoding and content-length")
            return -1
        values = by_name.get("content-length")
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
        return wanted and self._state is not _HEAD and not (self._state is _LENGTH and len(self._buf) >= self._remaining)

    def take_remaining(self) -> bytes:
        """Remove and return every buffered byte not consumed by a request."""
        data = bytes(self._buf)
        self._buf.clear()
        return data


#: What native code that reads requests as `RequestReader.next_request` does needs of this
#: module (aigw.server.http's `HttpReceive`): the reader's state while it waits for a head, and
#: the makers and `unquote` that `_codec.take_whole_request` is given.
READER_PARTS = (_HEAD, _request_slots, _headers_slots, unquote)
