"""One upstream HTTP/1.1 connection: an asyncio.Protocol that sends a request head and body,
parses the response head in Rust (`parse_response_head`), frames the body (Content-Length,
chunked via the Rust ChunkedDecoder, or read-until-close) and hands it to the response.

A connection serves one request at a time. It goes back to its pool only when the response
body has been received completely, keep-alive holds and no stray bytes followed the body;
every other outcome closes it. It holds its response weakly: a response its reader dropped
unfinished (no one can finish it) aborts the connection instead of holding a pool slot.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any, Callable

from aigw._codec import ChunkedDecoder, HttpParseError, parse_response_head, take_whole_response

from .errors import (
    FirstByteTimeout,
    TotalTimeout,
    UpstreamConnectionClosed,
    UpstreamError,
    UpstreamProtocolError,
)
from .response import Headers, UpstreamResponse, whole_response

if TYPE_CHECKING:
    from .client import _Pool

# Body framings (RFC 9112 §6.3).
_NO_BODY = 0
_LENGTH = 1
_CHUNKED = 2
_UNTIL_CLOSE = 3
#: A reused timer that fires this close to its deadline counts as on time (loop timers may
#: fire up to a clock tick early; without slack it would re-arm for a fraction of a tick).
_TIMER_SLACK = 0.001
#: `_received`'s "the head is not parsed yet".
_UNPARSED: Any = object()


class ClosedBeforeResponse(UpstreamError):
    """The connection closed before any response byte arrived. `written` says whether the
    request reached the transport; the client decides from it whether a retry is safe."""

    def __init__(self, written: bool, cause: BaseException | None) -> None:
        super().__init__("connection closed before any response byte")
        self.written = written
        self.cause = cause


def _keep_alive_seconds(value: bytes) -> float | None:
    """The `timeout=N` of a Keep-Alive header (RFC 2068 §19.7.1.1), if any."""
    for part in value.split(b","):
        k, _, v = part.strip().partition(b"=")
        if k.strip().lower() == b"timeout":
            try:
                return float(v.strip())
            except ValueError:
                return None
    return None


class Connection(asyncio.Protocol):
    """The protocol for one pooled connection. Driven by the client; not a public API."""

    __slots__ = (
        "loop",
        "pool",
        "transport",
        "closed",
        "idle_deadline",
        "keep_alive_limit",
        "owner",
        "busy",
        "_waiter",
        "_response",
        "_written",
        "_got_bytes",
        "_buf",
        "_is_head",
        "_framing",
        "_remaining",
        "_chunked",
        "_reusable",
        "_timer",
        "_timer_when",
        "_deadline",
        "_on_deadline",
        "_total_deadline",
        "_decode",
        "_limits",
        "data_received",
        "__weakref__",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        pool: _Pool,
        limits: tuple[int, int, int],
        receiver: Callable[[Connection], Callable[[bytes], object]],
    ) -> None:
        """`receiver(self)` makes the connection's `data_received`: the client's native one
        (`_codec.UpstreamExchange.receiver`), which takes the usual whole answer itself and
        calls `_received` for everything else."""
        self.data_received = receiver(self)
        self.loop = loop
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_deadline = 0.0
        self.keep_alive_limit: float | None = None
        #: Whose request this connection serves (pool accounting); `busy` while it does.
        self.owner: Any = None
        self.busy = False
        self._waiter: asyncio.Future | None = None
        self._response: weakref.ref[UpstreamResponse] | None = None
        self._written = False
        self._got_bytes = False
        self._buf: bytearray | None = None
        self._is_head = False
        self._framing = _NO_BODY
        self._remaining = 0
        self._chunked: ChunkedDecoder | None = None
        self._reusable = True
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when = 0.0  # when the pending _timer fires
        self._deadline: float | None = None  # when _on_deadline must run (None: no deadline)
        self._on_deadline = _total_timeout
        self._total_deadline = 0.0
        self._decode = True
        # (max head size, response buffer limit, max body size for read())
        self._limits = limits

    # -- driven by the client ------------------------------------------------------------

    def send(
        self,
        data: bytes,
        waiter: asyncio.Future,
        is_head: bool,
        first_byte_deadline: float,
        total_deadline: float,
        decode: bool,
    ) -> None:
        """Write one request; `waiter` gets the UpstreamResponse or an exception."""
        self._waiter = waiter
        self._is_head = is_head
        self._got_bytes = False
        self._total_deadline = total_deadline
        self._decode = decode
        t = self.transport
        if self.closed or t is None or t.is_closing():
            self._written = False
            waiter.set_exception(ClosedBeforeResponse(False, None))
            return
        self._written = True
        t.write(data)
        if first_byte_deadline < total_deadline:
            when, callback = first_byte_deadline, _first_byte_timeout
        else:
            when, callback = total_deadline, _total_timeout
        timer = self._timer
        if timer is not None and self._timer_when <= when:  # _arm's usual case, inline: the timer stays
            self._deadline, self._on_deadline = when, callback
        else:
            self._arm(when, callback)

    def abort(self) -> None:
        """Drop the connection now (a request was abandoned mid-flight)."""
        self._reusable = False
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            self.pool.discard(self)

    def close_idle(self) -> None:
        """Close a connection that sits idle in the pool."""
        self._cancel_timer()
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.resume_reading()

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def _received(self, data: bytes, parsed: Any = _UNPARSED) -> None:
        """What `data_received` does: feed the body, or parse the head (`parsed`: the native
        receiver's parse of `data`, given when it parsed the head and left the rest here)."""
        if self._response is not None:
            self._feed_body(data)
            return
        waiter = self._waiter
        if waiter is None or waiter.done():
            # Bytes while idle (or after the request was abandoned): the stream is out of sync.
            self._reusable = False
            self.abort()
            return
        limits = self._limits
        while True:
            buf = self._buf
            if buf is None:
                hint = 0
                head_data: bytes | bytearray = data
            else:
                hint = len(buf)
                buf += data
                head_data = buf
            if parsed is _UNPARSED:
                try:
                    if self._is_head:
                        parsed = parse_response_head(head_data, limits[0], start_hint=hint, framing=True)
                    else:
                        # The usual answer, its body here whole, comes back made (see below).
                        parsed = take_whole_response(head_data, limits[0], hint, self._decode, whole_response, Headers, limits[1], limits[2])
                except HttpParseError as e:
                    self._fail_head(UpstreamProtocolError(f"invalid response head: {e.args[1]}"))
                    return
            if parsed is not None and len(parsed) == 3:
                # The usual small answer: the body came whole with its head and needs no
                # framing (the Rust parser checked its Content-Length and the rest,
                # http::whole_body, and made the response). It is handed over complete and the
                # connection goes back at once: no timer to re-arm, no weak reference to
                # watch, no feeding of the body (and no further frame: every request is here).
                resp, reusable, keep_alive = parsed
                self._buf = self._waiter = self._deadline = None  # _deadline: _disarm()
                self._reusable = reusable
                if keep_alive is not None:
                    self.keep_alive_limit = _keep_alive_seconds(keep_alive)
                waiter.set_result(resp)
                if reusable and not self.closed:
                    self.pool.release(self)  # _finished(False), its usual case
                else:
                    self._finished(False)
                return
            if not self._got_bytes:
                # The first response byte ends the first-byte timeout (cf-aig-request-timeout is
                # measured to it); the rest of the head and the body run under the total deadline.
                self._got_bytes = True
                self._arm(self._total_deadline, _total_timeout)
            if parsed is None:
                if buf is None:
                    self._buf = bytearray(data)
                return
            self._buf = None
            status, reason, minor, headers, consumed, framing = parsed[:6]
            data = bytes(head_data[consumed:]) if consumed < len(head_data) else b""
            if 100 <= status < 200 and status != 101:
                # An interim response (103 Early Hints, a stray 100): the final one follows.
                if data:
                    parsed = _UNPARSED
                    continue
                return
            self._start_body(status, reason, minor, headers, framing, data, waiter)
            return

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._cancel_timer()
        waiter = self._waiter
        ref = self._response
        resp = ref() if ref is not None else None
        self._response = None
        if resp is not None:
            if self._framing == _UNTIL_CLOSE and exc is None:
                resp._feed_eof()
            else:
                resp._set_exception(UpstreamConnectionClosed(f"connection lost mid-body: {exc or 'closed by peer'}"))
        elif waiter is not None and not waiter.done():
            if not self._got_bytes:
                waiter.set_exception(ClosedBeforeResponse(self._written, exc))
            else:
                waiter.set_exception(UpstreamConnectionClosed("connection closed inside the response head"))
        self._waiter = None
        self.pool.discard(self)

    # -- internals -----------------------------------------------------------------------

    def _start_body(self, status, reason, minor, headers, framing_fields, rest, waiter) -> None:
        # The fields that frame the body, gathered by the Rust parser in one pass: the first
        # Content-Length (and whether a later one differs), Transfer-Encoding and Connection
        # values joined with ",", the last Content-Encoding and Keep-Alive; and the first
        # Content-Type, as text, for the response.
        cl, conflicting_lengths, te, conn_hdr, ce, keep_alive, content_type = framing_fields
        if conflicting_lengths:
            self._fail_head(UpstreamProtocolError("conflicting Content-Length headers"))
            return
        if keep_alive is not None:
            self.keep_alive_limit = _keep_alive_seconds(keep_alive)
        self._reusable = minor >= 1 and (conn_hdr is None or b"close" not in conn_hdr.lower())
        if self._is_head or status == 204 or status == 304:
            framing = _NO_BODY
        elif te is not None:
            # Transfer-Encoding overrides Content-Length, and such a message ends the
            # connection (RFC 9112 §6.3 p3); a final coding other than chunked reads to close.
            if te.rstrip().lower().endswith(b"chunked"):
                framing = _CHUNKED
                self._chunked = ChunkedDecoder()
            else:
                framing = _UNTIL_CLOSE
            if cl is not None or framing == _UNTIL_CLOSE:
                self._reusable = False
        elif cl is not None:
            if not (cl.isdigit() and len(cl) <= 18):  # the usual plain number needs no split
                first = cl.split(b",")[0].strip()
                if not first.isdigit() or any(p.strip() != first for p in cl.split(b",")) or len(first) > 18:
                    self._fail_head(UpstreamProtocolError("invalid Content-Length"))
                    return
                cl = first
            framing = _LENGTH
            self._remaining = int(cl)
        else:
            framing = _UNTIL_CLOSE
            self._reusable = False
        if status == 101:
            self._fail_head(UpstreamProtocolError("unexpected 101 Switching Protocols"))
            return
        self._framing = framing
        limits = self._limits
        ce = ce if self._decode else None
        resp = UpstreamResponse(self, status, reason, minor, headers, ce, limits[1], limits[2], content_type)
        ref = self._response = weakref.ref(resp, self._response_dropped)
        self._waiter = None
        waiter.set_result(resp)
        if framing == _NO_BODY or (framing == _LENGTH and self._remaining == 0):
            if rest:
                self._reusable = False
            self._body_done()
            return
        if rest:
            self._feed_body(rest)
        # Head is in: from now on only the total deadline applies. A small body usually came
        # whole with the head (then _body_done already cancelled the first-byte timer): no
        # timer to arm and cancel again, which costs ~1 µs per request on uvloop.
        if self._response is ref:
            self._arm(self._total_deadline, _total_timeout)

    def _feed_body(self, data: bytes) -> None:
        ref = self._response
        if ref is None:
            return
        resp = ref()
        if resp is None:  # dropped unread (the drop callback is on its way): nobody to feed
            self._response = None
            self.abort()
            return
        framing = self._framing
        if framing == _LENGTH:
            n = len(data)
            remaining = self._remaining
            if n < remaining:
                self._remaining = remaining - n
                resp._feed(data)
                return
            if n > remaining:
                data = data[:remaining]
                self._reusable = False  # stray bytes after the body: out of sync
            self._remaining = 0
            resp._feed(data)
            self._body_done()
        elif framing == _CHUNKED:
            dec = self._chunked
            assert dec is not None
            try:
                out = dec.feed(data)
            except ValueError as e:
                self._chunked_failed(resp, e)
                return
            if out:
                resp._feed(out)
            if dec.done:
                self._chunked_done(dec)
        else:
            resp._feed(data)

    # The chunked body's two unusual ends, apart so that the native receiver (which decodes a
    # body's reads itself, rust/src/python/upstream_body.rs) ends it the same way.

    def _chunked_failed(self, resp: UpstreamResponse, e: ValueError) -> None:
        """The chunked decoder refused a read: the response fails and the connection goes."""
        self._reusable = False
        self._response = None
        resp._set_exception(UpstreamProtocolError(f"invalid chunked body: {e}"))
        self.abort()

    def _chunked_done(self, dec: ChunkedDecoder) -> None:
        """The terminating chunk is in: the body ends (bytes after it spoil reuse)."""
        if dec.unused_data:
            self._reusable = False
        self._body_done()

    def _body_done(self) -> None:
        ref = self._response
        resp = ref() if ref is not None else None
        self._response = None
        self._chunked = None
        self._disarm()
        if resp is not None:
            paused = resp._paused
            resp._feed_eof()
        else:
            paused = False
        self._finished(paused)

    def _finished(self, paused: bool) -> None:
        """The response is whole: the connection goes back to the pool (reading resumed if the
        response had `paused` it), or is closed when it cannot be reused."""
        if self._reusable and not self.closed:
            if paused and self.transport is not None:
                self.transport.resume_reading()
            self.pool.release(self)
        else:
            self._reusable = False
            if not self.closed:
                self.closed = True
                if self.transport is not None:
                    self.transport.close()
                self.pool.discard(self)

    def _response_dropped(self, ref: weakref.ref) -> None:
        # A weakref callback runs wherever the last reference went (inside any code): only
        # schedule the abort, never touch the pool from here.
        if self._response is ref and not self.loop.is_closed():
            self.loop.call_soon(self._abandoned, ref)

    def _abandoned(self, ref: weakref.ref) -> None:
        """The response was dropped before its body ended: nobody can finish it, so the
        connection cannot be reused; free its pool slot now instead of at the total timeout."""
        if self._response is ref:
            self._response = None
            self.abort()

    def _fail_head(self, exc: BaseException) -> None:
        waiter = self._waiter
        self._waiter = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        self.abort()

    def _arm(self, when: float, callback) -> None:
        """Make `callback(self)` run at `when` unless re-armed or disarmed first.

        One timer per connection, kept across requests: a pending timer that fires no later
        than `when` is reused (it re-checks the deadline when it fires), so a keep-alive
        connection pays no call_at + cancel (~1.2 µs on uvloop) per request."""
        self._deadline = when
        self._on_deadline = callback
        timer = self._timer
        if timer is not None:
            if self._timer_when <= when:
                return
            timer.cancel()
        self._timer_when = when
        self._timer = self.loop.call_at(when, self._deadline_reached)

    def _disarm(self) -> None:
        """No deadline until the next _arm; a pending timer finds nothing to do."""
        self._deadline = None

    def _deadline_reached(self) -> None:
        self._timer = None
        when = self._deadline
        if when is None or self.closed:
            return
        if self.loop.time() + _TIMER_SLACK < when:  # the deadline moved on: wait for it
            self._timer_when = when
            self._timer = self.loop.call_at(when, self._deadline_reached)
            return
        self._deadline = None
        self._on_deadline(self)

    def _cancel_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timeout(self, exc: BaseException) -> None:
        self._timer = None
        waiter = self._waiter
        ref = self._response
        resp = ref() if ref is not None else None
        self._waiter = None
        self._response = None
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        elif resp is not None:
            resp._set_exception(exc)
        self.abort()


def _first_byte_timeout(conn: Connection) -> None:
    conn._timeout(FirstByteTimeout("no response head within first_byte_timeout"))


def _total_timeout(conn: Connection) -> None:
    conn._timeout(TotalTimeout("response not complete within total_timeout"))
