"""Push-style HTTP responses: the ``ResponseWriter`` an app drives, and how the server sends
the simple forms (``HttpResponse`` with bytes or an async iterable) through it.

A ``ResponseWriter`` answers one request on one connection. Framing is chosen at ``start``:
Content-Length when the app gives one (argument or header), chunked otherwise, and for an
HTTP/1.0 client a body that ends with the connection. Output goes through the connection's
queue (one transport write per loop tick) with the same flow control as WebSockets: above the
high-water mark ``is_writable`` is False and ``drained()`` waits; past ``write_hard_limit``
unsent bytes the connection is aborted. ``abort()`` ends the response abnormally: the
connection closes without the terminating chunk (or short of Content-Length), so a client
never mistakes a broken stream for a complete one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from aigw.protocol.http11 import HttpResponse, LAST_CHUNK, serialize_response_head, whole_response
from aigw.server.app import ConnectionClosed
from aigw.slots_maker import slot_writer

__all__ = ["ResponseChannel", "ResponseWriter", "response_writer", "send_response"]

log = logging.getLogger("aigw.server")

ABNORMAL = 1006
NEW, STARTED, ENDED, ABORTED = range(4)
_BODYLESS = (204, 304)


class ResponseChannel(Protocol):
    """What a ResponseWriter needs from its connection (``aigw.server.http.HttpConnection``)."""

    lost: bool
    write_paused: bool
    hard_limit: int

    def queue(self, data: bytes, soon: bool = True) -> None:
        """Append bytes to this tick's write (`soon` False: the caller flushes itself)."""

    def flush(self) -> None:
        """Write everything queued now."""

    def send(self, data: bytes) -> None:
        """Write `data` now, after anything queued (``queue(data, False)`` then ``flush()``)."""

    def unsent(self) -> int:
        """Bytes queued or buffered in the transport, not yet taken by the kernel."""

    async def wait_writable(self) -> None:
        """Return once below the low-water mark; raise ConnectionClosed if the client left."""

    def end_abnormally(self) -> None:
        """Flush what is queued and close the connection (no more bytes of this response)."""

    def may_keep_alive(self) -> bool:
        """Whether the connection may carry another request (False while shutting down or
        while the request body is still arriving)."""


class ResponseWriter:
    """One request's response, written piece by piece (see the module docstring)."""

    __slots__ = ("_channel", "_head_request", "_http10", "_close", "_state", "_chunked", "_length", "_sent",
                 "_no_body", "status")

    def __init__(self, channel: ResponseChannel, *, method: str, http_version: str, keep_alive: bool) -> None:
        self._channel = channel
        self._head_request = method == "HEAD"
        self._http10 = http_version != "1.1"
        self._close = not keep_alive
        self._state = NEW
        self._chunked = False
        self._length: int | None = None
        self._sent = 0
        self._no_body = False
        #: The status sent by ``start`` (None before).
        self.status: int | None = None

    # -- state -----------------------------------------------------------------------------------

    @property
    def started(self) -> bool:
        """Whether the head has been queued (``start`` was called)."""
        return self._state is not NEW

    @property
    def finished(self) -> bool:
        """Whether the response ended, normally (``end``) or not (``abort``)."""
        return self._state >= ENDED

    @property
    def completed(self) -> bool:
        """Whether the response ended normally and the connection may carry another request."""
        return self._state is ENDED and not self._close

    @property
    def is_writable(self) -> bool:
        """False while the client is behind (unsent bytes above the high-water mark) or gone:
        producers should stop and ``await drained()``."""
        channel = self._channel
        return not channel.write_paused and not channel.lost and self._state < ENDED

    def close_after(self) -> None:
        """Say ``Connection: close`` and close once this response is done (call before start)."""
        self._close = True

    # -- the app's interface -----------------------------------------------------------------------

    def start(self, status: int, headers: Iterable[tuple[str, str]] = (), *, content_length: int | None = None) -> None:
        """Queue the response head. The body is framed by `content_length` (or the app's own
        Content-Length header), else chunked (close-delimited for HTTP/1.0 clients).
        Transfer-Encoding and Connection headers from the app are replaced by the server's.
        Raises RuntimeError when already started, ValueError for a 1xx status or a bad length."""
        self._channel.queue(self._head(status, headers, content_length))

    def send_whole(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        """``start`` with Content-Length and ``end(body)`` as one transport write."""
        if self._state is NEW and 200 <= status <= 999 and status not in _BODYLESS and not self._head_request and len(body) < 65536:
            # The usual answer, framed as `_head` would frame it (Content-Length, no body
            # rules to apply) and written with its body in one native call.
            channel = self._channel
            if not channel.may_keep_alive():
                self._close = True
            data = whole_response(status, headers, body, close=self._close)
            self.status, self._length, self._sent, self._state = status, len(body), len(body), ENDED
            channel.send(data)
            return
        head = self._head(status, headers, len(body))
        channel = self._channel
        if self._no_body or not body:
            channel.queue(head, False)
        elif len(body) < 65536:
            channel.queue(head + body, False)
        else:
            channel.queue(head, False)
            channel.queue(body, False)
        self._sent = len(body)
        self._state = ENDED
        channel.flush()

    def _head(self, status: int, headers: Iterable[tuple[str, str]], content_length: int | None) -> bytes:
        """Choose the framing, move to STARTED and return the head's bytes."""
        if self._state is not NEW:
            raise RuntimeError("the response has already started")
        if not 200 <= status <= 999:
            raise ValueError(f"cannot start a response with status {status}")
        headers = list(headers)
        if not self._channel.may_keep_alive():
            self._close = True
        if content_length is None:
            declared = [v for n, v in headers if n.lower() == "content-length"]
            if declared:
                if len(set(declared)) != 1 or not declared[0].strip().isdigit():
                    raise ValueError("invalid content-length header")
                content_length = int(declared[0])
        elif content_length < 0:
            raise ValueError("content_length must not be negative")
        self._no_body = self._head_request or status in _BODYLESS
        if status in _BODYLESS:
            content_length = None
        elif not self._no_body and content_length is None:
            if self._http10:
                self._close = True  # the body ends when the connection does
            else:
                self._chunked = True
        self._length = None if self._head_request else content_length
        head = serialize_response_head(
            status, headers, content_length=content_length, chunked=self._chunked, close=self._close
        )
        self.status = status
        self._state = STARTED
        return head

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue body bytes (sent this loop tick). Raises ConnectionClosed once the client is
        gone or the connection was aborted for holding more than ``write_hard_limit``, and
        ValueError past a declared Content-Length. Bytes for a HEAD/204/304 are dropped."""
        state = self._state
        if state is not STARTED:
            if state is NEW:
                raise RuntimeError("write() before start()")
            raise ConnectionClosed(ABNORMAL, "the response has ended")
        channel = self._channel
        if channel.lost:
            raise ConnectionClosed(ABNORMAL, "client disconnected")
        size = len(data)
        if not size or self._no_body:
            return
        if self._length is not None and self._sent + size > self._length:
            raise ValueError(f"write() past the declared content-length of {self._length}")
        self._sent += size
        if self._chunked:
            channel.queue(b"%x\r\n" % size)
            channel.queue(bytes(data))
            channel.queue(b"\r\n")
        else:
            channel.queue(bytes(data))
        if channel.write_paused and channel.unsent() > channel.hard_limit:
            self._state = ABORTED
            channel.end_abnormally()
            raise ConnectionClosed(ABNORMAL, "send buffer limit exceeded: the client is not reading")

    async def drained(self) -> None:
        """Return once the connection can take more output; raises ConnectionClosed when the
        client is gone or the response was aborted."""
        if self._state is ABORTED:
            raise ConnectionClosed(ABNORMAL, "the response was aborted")
        await self._channel.wait_writable()

    def end(self, data: bytes = b"") -> None:
        """Write `data`, then finish the response (the last chunk) and flush it. A response
        that sent less than its declared Content-Length cannot finish: it is aborted. A no-op
        once ended or aborted."""
        if self._state >= ENDED:
            return
        if self._state is NEW:
            raise RuntimeError("end() before start()")
        if data:
            self.write(data)
        if self._length is not None and self._sent < self._length:
            log.warning("response ended after %d of %d content-length bytes: aborted", self._sent, self._length)
            self.abort()
            return
        self._state = ENDED
        if self._chunked:
            self._channel.queue(LAST_CHUNK)
        self._channel.flush()  # complete on the wire before the connection moves on

    def abort(self) -> None:
        """End the response abnormally: what is queued is sent, then the connection closes
        without the terminating chunk, so the client sees a broken response. A no-op once the
        response ended."""
        if self._state >= ENDED:
            return
        self._state = ABORTED
        self._channel.end_abnormally()

    def __repr__(self) -> str:
        return f"<ResponseWriter {self.status} {('new', 'started', 'ended', 'aborted')[self._state]}>"


_writer_slots = slot_writer(
    ResponseWriter,
    ("_channel", "_head_request", "_http10", "_close"),
    {"_state": NEW, "_chunked": False, "_length": None, "_sent": 0, "_no_body": False, "status": None},
)


def response_writer(channel: ResponseChannel, method: str, http_version: str, keep_alive: bool) -> ResponseWriter:
    """The writer `ResponseWriter(channel, method=..., http_version=..., keep_alive=...)` makes,
    built in one native call (aigw.slots_maker.slot_writer): the server makes one per request."""
    return _writer_slots(channel, method == "HEAD", http_version != "1.1", not keep_alive)


async def send_response(writer: ResponseWriter, response: HttpResponse) -> None:
    """Send an app's ``HttpResponse``: bytes with Content-Length, an async iterable chunked
    with flow control (and closed when done)."""
    if not response.streaming:
        writer.send_whole(response.status, response.headers, bytes(response.body))
        return
    body = response.body
    writer.start(response.status, response.headers)
    try:
        async for piece in body:
            writer.write(piece)
            if not writer.is_writable:
                await writer.drained()
    finally:
        aclose = getattr(body, "aclose", None)
        if aclose is not None:
            await aclose()
    writer.end()
