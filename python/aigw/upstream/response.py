"""The upstream response: status, headers and a bounded, back-pressured body stream.

The connection pushes body bytes in (`_feed`, `_feed_eof`, `_set_exception`); the consumer
pulls them out with `read()` or `iter_chunks()`. When more than `buffer_limit` bytes wait
unread, the connection stops reading from the socket until the consumer catches up. There is
one waiter future at a time, never a queue per chunk.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from .errors import UpstreamConnectionClosed, UpstreamProtocolError

if TYPE_CHECKING:
    from .connection import Connection


def _decompressor(encoding: bytes | None):
    """An incremental decoder for a Content-Encoding we undo, or None (identity/unknown)."""
    if not encoding:
        return None
    enc = encoding.strip().lower()
    if enc in (b"gzip", b"x-gzip"):
        return _Inflater(zlib.MAX_WBITS | 16)
    if enc == b"deflate":
        return _Inflater(None)
    return None


class _Inflater:
    """zlib.decompressobj with the zlib-or-raw guess that "deflate" needs (servers send both)."""

    __slots__ = ("_wbits", "_obj")

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits) if wbits is not None else None

    def decompress(self, data: bytes) -> bytes:
        if self._obj is None:
            # RFC 9110 "deflate" is zlib-wrapped; some servers send raw deflate. A zlib header's
            # low nibble is 8 (CM = deflate).
            self._obj = zlib.decompressobj(zlib.MAX_WBITS if data and data[0] & 0x0F == 8 else -zlib.MAX_WBITS)
        try:
            return self._obj.decompress(data)
        except zlib.error as e:
            raise UpstreamProtocolError(f"invalid compressed body: {e}") from None

    def finish(self) -> bytes:
        if self._obj is None:
            return b""
        tail = self._obj.flush()
        if not self._obj.eof:
            raise UpstreamProtocolError("compressed body is truncated")
        return tail


class Headers(list):
    """Response header fields in order, as (lowercased name, value) pairs of bytes, with a
    case-insensitive lookup. Still a plain list for iteration and equality."""

    __slots__ = ()

    def get(self, name: str | bytes, default: bytes | None = None) -> bytes | None:  # type: ignore[override]
        """The first value of header `name` (case-insensitive), or `default`."""
        key = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        for n, v in self:
            if n == key:
                return v
        return default

    def get_all(self, name: str | bytes) -> list[bytes]:
        """Every value of header `name` (case-insensitive), in order."""
        key = (name.encode("latin-1") if isinstance(name, str) else name).lower()
        return [v for n, v in self if n == key]


class UpstreamResponse:
    """A response whose head has arrived. Read the body once, with `read()` or `iter_chunks()`;
    `close()` (or leaving `async with`) before the end discards the connection."""

    __slots__ = (
        "status",
        "reason",
        "http_minor",
        "headers",
        "_conn",
        "_chunks",
        "_size",
        "_limit",
        "_max_body",
        "_waiter",
        "_eof",
        "_exc",
        "_decoder",
        "_paused",
    )

    def __init__(
        self,
        conn: Connection,
        status: int,
        reason: str,
        http_minor: int,
        headers: list[tuple[bytes, bytes]],
        content_encoding: bytes | None,
        buffer_limit: int,
        max_body_size: int,
    ) -> None:
        self.status = status
        self.reason = reason
        self.http_minor = http_minor
        #: Header fields in order: (lowercased name, value) as bytes; `headers.get(name)`.
        self.headers = Headers(headers)
        self._conn: Connection | None = conn
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = buffer_limit
        self._max_body = max_body_size
        self._waiter = None
        self._eof = False
        self._exc: BaseException | None = None
        self._decoder = _decompressor(content_encoding)
        self._paused = False

    def __repr__(self) -> str:
        return f"<UpstreamResponse {self.status} {self.reason!r}>"

    def get(self, name: str | bytes, default: bytes | None = None) -> bytes | None:
        """The first value of header `name` (case-insensitive), or `default`."""
        return self.headers.get(name, default)

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The header fields as (name, value) bytes pairs (the same list as `headers`)."""
        return self.headers

    @property
    def buffered(self) -> int:
        """Body bytes received and not yet consumed (bounded by the buffer limit plus one read)."""
        return self._size

    @property
    def complete(self) -> bool:
        """The whole body has been received (it may still be buffered here)."""
        return self._eof

    # -- consumer side -------------------------------------------------------------------

    async def read(self) -> bytes:
        """The whole (decoded) body. Raises UpstreamError subclasses on failure, and
        UpstreamProtocolError when it exceeds the client's max_body_size."""
        parts = []
        total = 0
        while True:
            if self._chunks:
                data = self._take()
                total += len(data)
                if total > self._max_body:
                    self.close()
                    raise UpstreamProtocolError(f"response body exceeds {self._max_body} bytes")
                parts.append(data)
            elif self._exc is not None:
                raise self._exc
            elif self._eof:
                break
            else:
                await self._wait()
        if self._decoder is not None:
            parts.append(self._decoder.finish())
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def iter_chunks(self) -> AsyncIterator[bytes]:
        """Iterate the (decoded) body as it arrives: each item is everything buffered since the
        last one (never empty). Reading is paused while the consumer is behind."""
        return _ChunkIterator(self)

    def close(self) -> None:
        """Stop reading. An unfinished body discards the connection (it cannot be reused)."""
        if self._eof or self._exc is not None:
            self._chunks.clear()
            return
        self._exc = UpstreamConnectionClosed("response closed before its body was read")
        self._chunks.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.abort()

    async def __aenter__(self) -> UpstreamResponse:
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.close()

    # -- connection side -----------------------------------------------------------------

    def _feed(self, data: bytes) -> None:
        if self._exc is not None:
            return
        self._chunks.append(data)
        self._size += len(data)
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)
        if self._size >= self._limit and not self._paused and self._conn is not None:
            self._paused = True
            self._conn.pause_reading()

    def _feed_eof(self) -> None:
        self._eof = True
        self._conn = None
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _set_exception(self, exc: BaseException) -> None:
        if self._eof or self._exc is not None:
            return
        self._exc = exc
        self._conn = None
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- internals -----------------------------------------------------------------------

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            if self._conn is not None:
                self._conn.resume_reading()
        if self._decoder is not None:
            data = self._decoder.decompress(data)
        return data

    async def _wait(self) -> None:
        conn = self._conn
        if conn is None:  # finished or failed between the checks; nothing to wait for
            return
        self._waiter = w = conn.loop.create_future()
        try:
            await w
        except asyncio.CancelledError:
            self.close()  # an abandoned body cannot be finished: discard the connection
            raise
        finally:
            self._waiter = None


class _ChunkIterator:
    __slots__ = ("_resp", "_finished")

    def __init__(self, resp: UpstreamResponse) -> None:
        self._resp = resp
        self._finished = False

    def __aiter__(self) -> _ChunkIterator:
        return self

    async def __anext__(self) -> bytes:
        r = self._resp
        while True:
            if r._chunks:
                data = r._take()
                if data:
                    return data
            elif r._exc is not None:
                raise r._exc
            elif r._eof:
                if not self._finished:
                    self._finished = True
                    if r._decoder is not None:
                        tail = r._decoder.finish()
                        if tail:
                            return tail
                raise StopAsyncIteration
            else:
                await r._wait()


__all__ = ["Headers", "UpstreamResponse"]
