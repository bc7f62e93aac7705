"""The upstream response: status, headers and a bounded, back-pressured body stream.

The connection pushes body bytes in (`_feed`, `_feed_eof`, `_set_exception`); the consumer
pulls them out with `read()` or `iter_chunks()`. When more than `buffer_limit` bytes wait
unread, the connection stops reading from the socket until the consumer catches up. There is
one waiter future at a time, never a queue per chunk.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import TYPE_CHECKING, Any

from aigw.slots_maker import slot_writer

from .errors import UpstreamBodyTooLarge, UpstreamConnectionClosed, UpstreamProtocolError

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
    """A bounded streaming inflater: zlib.decompressobj with the zlib-or-raw guess that
    "deflate" needs (servers send both), producing at most `max_length` bytes per call.

    Input that would inflate past `max_length` is held back (zlib's `unconsumed_tail`) until
    the next call; `pending` says there is more output without new input. So a caller that
    checks its size limit between calls never holds more than the limit plus one step, however
    far the body inflates (a gzip bomb is refused after one step past the limit, not after
    inflating it whole)."""

    __slots__ = ("_wbits", "_obj", "_tail", "_full")

    def __init__(self, wbits: int | None) -> None:
        self._wbits = wbits
        self._obj: Any = None
        self._tail = b""
        self._full = False  # the last call filled max_length: zlib may hold more output

    @property
    def pending(self) -> bool:
        """More output may come without new input (call `inflate(b"", n)`)."""
        return self._full or bool(self._tail)

    def inflate(self, data: bytes, max_length: int) -> bytes:
        """Inflate `data` after any held-back input; at most `max_length` (>= 1) bytes out."""
        obj = self._obj
        if obj is None:
            if not data:
                return b""
            wbits = self._wbits
            if wbits is None:
                # RFC 9110 "deflate" is zlib-wrapped; some servers send raw deflate. A zlib
                # header's low nibble is 8 (CM = deflate).
                wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            obj = self._obj = zlib.decompressobj(wbits)
        if self._tail:
            data = self._tail + data if data else self._tail
        try:
            out = obj.decompress(data, max_length)
        except zlib.error as e:
            raise UpstreamProtocolError(f"invalid compressed body: {e}") from None
        self._tail = obj.unconsumed_tail
        self._full = len(out) == max_length
        return out

    def finish(self) -> None:
        """Check that the compressed stream ended (call once `pending` is false at body end).
        A body that never had a byte (HEAD, 204, empty) is accepted."""
        if self._obj is not None and not self._obj.eof:
            raise UpstreamProtocolError("compressed body is truncated")


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
    `close()` (or leaving `async with`) before the end discards the connection.

    A response holds its connection until the body is complete. Every way of giving up on it
    releases the connection at once: `close()`, cancelling `read()` or an `iter_chunks()` step,
    `aclose()` on the chunk iterator, and, as a safety net, dropping the last reference to an
    unfinished response (its connection is aborted on the next loop iteration)."""

    __slots__ = (
        "status",
        "reason",
        "http_minor",
        "headers",
        "content_type",
        "_conn",
        "_chunks",
        "_size",
        "_limit",
        "_max_body",
        "_waiter",
        "_eof",
        "_exc",
        "_decoder",
        "_decoded",
        "_paused",
        "_finished",
        "_on_data",
        "_on_end",
        "__weakref__",
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
        content_type: str,
    ) -> None:
        self.status = status
        self.reason = reason
        self.http_minor = http_minor
        #: Header fields in order: (lowercased name, value) as bytes; `headers.get(name)`.
        self.headers = Headers(headers)
        #: The first Content-Type value as text (latin-1), "" when there is none (the Rust head
        #: parser hands it over with the framing fields).
        self.content_type = content_type
        self._conn: Connection | None = conn
        self._chunks: list[bytes] = []
        self._size = 0
        self._limit = buffer_limit
        self._max_body = max_body_size
        self._waiter = None
        self._eof = False
        self._exc: BaseException | None = None
        self._decoder = _decompressor(content_encoding)
        self._decoded = 0  # bytes inflated so far (compressed bodies only)
        self._paused = False
        self._finished = False  # next_chunk reported the end
        self._on_data: Any = None  # push_to's consumer, while attached
        self._on_end: Any = None

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
        UpstreamBodyTooLarge when the body, decoded, exceeds the client's max_body_size (a
        compressed body is refused while inflating, never inflated whole first)."""
        parts = []
        total = 0
        while True:
            data = self.next_chunk()
            if data is None:
                await self.wait_data()
                continue
            if not data:
                break
            total += len(data)
            if total > self._max_body:
                self.close()
                raise UpstreamBodyTooLarge(f"response body exceeds the {self._max_body}-byte limit")
            parts.append(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_now(self) -> bytes | None:
        """`read()` without a coroutine when it would not wait: the rest of the body when all
        of it is here, identity-coded and within max_body_size; None otherwise (then await
        `read()`, which also reports the failures). A small answer usually arrives with its
        head, so this is the common case."""
        if not self._eof or self._decoder is not None or self._exc is not None or self._finished or self._size > self._max_body:
            return None
        self._finished = True
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks) == 1 and not self._paused:  # the usual whole answer: _take, inline
            self._size = 0
            return chunks.pop()
        return self._take()

    def iter_chunks(self) -> _ChunkIterator:
        """Iterate the (decoded) body as it arrives: each item is everything buffered since the
        last one (never empty). Reading is paused while the consumer is behind. A compressed
        body is inflated in steps of at most the buffer limit per item, and refused with
        UpstreamBodyTooLarge once it inflates past max_body_size (an identity body has no total
        cap here: its memory is bounded by the buffer limit). `aclose()` the iterator (e.g.
        `contextlib.aclosing`) to give up early: that discards the connection."""
        return _ChunkIterator(self)

    def next_chunk(self) -> bytes | None:
        """The next piece of the (decoded) body that is here now, without waiting: bytes, b""
        at the end of the body, or None when nothing has arrived yet (await `data_ready()` or
        `wait_data()`, then ask again). Raises the body's failure. `read()` and
        `iter_chunks()` are built on it; a consumer may call it directly to save a coroutine
        per piece."""
        while True:
            dec = self._decoder
            if dec is not None and dec.pending:
                data = self._inflate(b"")
            elif self._chunks:
                data = self._take()
                if dec is not None:
                    data = self._inflate(data)
            elif self._exc is not None:
                raise self._exc
            elif self._eof:
                if not self._finished:
                    self._finished = True
                    if dec is not None:
                        dec.finish()
                return b""
            else:
                return None
            if data:
                return data

    def data_ready(self) -> asyncio.Future | None:
        """A future done when more of the body, its end or its failure has arrived; None when
        there is nothing to wait for. The caller that awaits it and is cancelled must `close()`
        the response (an abandoned body cannot be finished), as `wait_data` does."""
        conn = self._conn
        if conn is None:  # finished or failed between the checks
            return None
        self._waiter = w = conn.loop.create_future()
        return w

    def push_to(self, on_data: Any, on_end: Any) -> bool:
        """Hand the body to `on_data(piece)` as the connection receives it (called inside its
        `data_received`: no task wakes per piece), then its end or failure to `on_end(None |
        exception)`; both are detached before `on_end` runs. Only an empty buffer of an
        unfinished, uncompressed body is attached: False otherwise (take what is here with
        `next_chunk` first). `on_data` must not raise. `push_to(None, None)` detaches; so
        does `close()`."""
        if on_data is None:
            self._on_data = self._on_end = None
            return True
        if self._chunks or self._decoder is not None or self._eof or self._exc is not None or self._conn is None:
            return False
        self._on_data, self._on_end = on_data, on_end
        if self._paused:  # paused for a consumer that has caught up
            self._paused = False
            self._conn.resume_reading()
        return True

    def pause(self) -> None:
        """Stop reading the body from the socket until the next `push_to` or `next_chunk`
        that takes data (a pushed-to consumer that is full)."""
        if not self._paused and self._conn is not None:
            self._paused = True
            self._conn.pause_reading()

    async def wait_data(self) -> None:
        """Wait until more of the body, its end or its failure has arrived. A cancelled wait
        closes the response (the connection is discarded)."""
        w = self.data_ready()
        if w is None:
            return
        try:
            await w
        except asyncio.CancelledError:
            self.close()
            raise
        finally:
            self._waiter = None

    def close(self) -> None:
        """Stop reading. An unfinished body discards the connection (it cannot be reused)."""
        if self._eof or self._exc is not None:
            self._chunks.clear()
            return
        self._exc = UpstreamConnectionClosed("response closed before its body was read")
        self._chunks.clear()
        self._on_data = self._on_end = None
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
        push = self._on_data
        if push is not None:
            push(data)
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
        end = self._on_end
        if end is not None:
            self._on_data = self._on_end = None
            self._finished = True
            end(None)
            return
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    def _set_exception(self, exc: BaseException) -> None:
        if self._eof or self._exc is not None:
            return
        self._exc = exc
        self._conn = None
        end = self._on_end
        if end is not None:
            self._on_data = self._on_end = None
            end(exc)
            return
        w = self._waiter
        if w is not None and not w.done():
            w.set_result(None)

    # -- internals -----------------------------------------------------------------------

    def _take(self) -> bytes:
        """Everything buffered, as received (still compressed, if it is)."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        if self._paused:
            self._paused = False
            if self._conn is not None:
                self._conn.resume_reading()
        return data

    def _inflate(self, data: bytes) -> bytes:
        """One bounded inflate step over `data` (b"": continue held-back input). The limit is
        checked inside the inflate loop: a step never produces more than one byte past it."""
        dec = self._decoder
        assert dec is not None
        room = self._max_body - self._decoded
        out = dec.inflate(data, min(max(self._limit, 65536), room + 1))
        self._decoded += len(out)
        if self._decoded > self._max_body:
            self.close()
            self._decoder = None  # drop zlib's state and held-back input now
            raise UpstreamBodyTooLarge(f"decompressed response body exceeds the {self._max_body}-byte limit")
        return out

#: A response whose identity-coded body came whole with its head, built in one native call
#: (`_codec.take_whole_response` calls it for `Connection.data_received`): every slot as
#: `__init__`, then the body fed and ended (`_feed`, `_feed_eof`), leave it. Takes
#: (status, reason, http_minor, headers, content_type, chunks, size, buffer_limit, max_body_size)
#: with `headers` a Headers and `chunks` [body] (or [] for an empty body).
whole_response = slot_writer(
    UpstreamResponse,
    ("status", "reason", "http_minor", "headers", "content_type", "_chunks", "_size", "_limit", "_max_body"),
    {"_conn": None, "_waiter": None, "_eof": True, "_exc": None, "_decoder": None, "_decoded": 0, "_paused": False,
     "_finished": False, "_on_data": None, "_on_end": None},
)

#: A response whose body follows its head, built in one native call (the exchange's receiver
#: starts the usual streamed body with it, rust/src/python/upstream_body.rs): every slot as
#: `__init__` leaves it for an identity-coded (or not decoded) body. Takes (status, reason,
#: http_minor, headers, content_type, conn, chunks, buffer_limit, max_body_size) with `headers`
#: a Headers and `chunks` a new empty list.
streamed_response = slot_writer(
    UpstreamResponse,
    ("status", "reason", "http_minor", "headers", "content_type", "_conn", "_chunks", "_limit", "_max_body"),
    {"_size": 0, "_waiter": None, "_eof": False, "_exc": None, "_decoder": None, "_decoded": 0, "_paused": False,
     "_finished": False, "_on_data": None, "_on_end": None},
)


class _ChunkIterator:
    """The async iterator of `UpstreamResponse.iter_chunks()`."""

    __slots__ = ("_resp",)

    def __init__(self, resp: UpstreamResponse) -> None:
        self._resp = resp

    def __aiter__(self) -> _ChunkIterator:
        return self

    async def __anext__(self) -> bytes:
        r = self._resp
        while (data := r.next_chunk()) is None:
            await r.wait_data()
        if not data:
            raise StopAsyncIteration
        return data

    async def aclose(self) -> None:
        """Stop iterating: an unfinished body discards the connection (as `close()`)."""
        self._resp.close()


__all__ = ["Headers", "UpstreamResponse"]
