"""A lean HTTP/1.1 keep-alive client for calling AI providers, over the running loop's transports.

Why not aiohttp's client: it costs 60-100 µs of CPU per small request, against a per-request
budget of about 50 µs for the whole gateway. This client keeps per request only what it must:
one head `bytes`, one future, one response object and at most two timer handles; the response
head is parsed in Rust and chunked bodies are decoded in Rust.

Connections are pooled per (scheme, host, port) with a size limit (callers queue when it is
full), most-recently-used first, and closed after `idle_timeout` (or the server's Keep-Alive
timeout, whichever is shorter).

Fair share: a request may name its `owner` (the gateway passes the client connection it came
from). One owner holds at most `max_connections_per_owner` connections of a host's pool at a
time, so one client with many slow (or stalled, unread) requests cannot take a provider away
from everyone else; and queued requests are served round-robin by owner, so a client with a
long queue does not delay another's first request by its whole queue.

Giving up releases at once: a request cancelled while queued, while connecting, or while
waiting for the response head frees its place or aborts its connection; a body abandoned
mid-way (`close()`, a cancelled read, a dropped response) aborts its connection (see response.py).

Retry rule (one transparent retry, never more), modelled on Go's net/http:
  * A pooled connection that is already closing when taken is skipped silently (not a retry).
  * If a *reused* connection closes before any response byte arrives, the request is retried
    once on a new connection when nothing was written, or when the request is idempotent
    (GET, HEAD, OPTIONS, TRACE, PUT, DELETE, or it carries an Idempotency-Key header). That is
    the keep-alive race: the server closed the idle connection as the request went out, so it
    never processed it. A POST is not retried, because the client cannot tell whether the server
    saw it; the caller gets UpstreamConnectionClosed and its own retry policy decides.
  * Nothing else is retried here: not new connections, not errors after response bytes.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from aigw import _codec

from .connection import ClosedBeforeResponse, Connection, _first_byte_timeout, _total_timeout
from .errors import ClientClosed, ConnectTimeout, UpstreamConnectError, UpstreamConnectionClosed
from .response import Headers, UpstreamResponse, streamed_response, whole_response

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SKIPPED_HEADERS = frozenset({b"host", b"content-length", b"transfer-encoding", b"connection"})
_URL_CACHE_SIZE = 4096
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

PoolKey = tuple[str, str, int]
HeadersArg = Mapping[str | bytes, str | bytes] | Iterable[tuple[str | bytes, str | bytes]]


def _bytes(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode("latin-1")


#: A waiter's grant meaning "a slot in the pool is reserved for you: open a connection".
_SLOT = object()


class _Pool:
    """The connections to one origin: idle ones (a stack), a count of all, and the requests
    waiting for one, queued per owner and served round-robin by owner.

    Capacity is handed out only here (`grant`), at the moment it frees up, and reserved for the
    waiter it is handed to, so a newcomer never overtakes a waiter. An owner (a client
    connection of the gateway) holds at most `max_connections_per_owner` of the pool's
    connections at once (busy ones plus slots being connected); its further requests wait
    for one of its own to finish, while other owners' requests proceed."""

    __slots__ = ("key", "client", "idle", "conns", "connecting", "queues", "held", "sweeper")

    def __init__(self, key: PoolKey, client: UpstreamClient) -> None:
        self.key = key
        self.client = client
        self.idle: list[Connection] = []
        self.conns: set[Connection] = set()
        self.connecting = 0
        #: Waiting requests per owner; dict order is the round-robin order.
        self.queues: dict[Any, deque[asyncio.Future]] = {}
        #: Per owner (None: no owner, never capped): connections busy for it plus reserved slots.
        self.held: dict[Any, int] = {}
        self.sweeper: asyncio.TimerHandle | None = None

    def size(self) -> int:
        return len(self.conns) + self.connecting

    def waiting(self) -> int:
        return sum(len(q) for q in self.queues.values())

    # -- per-owner accounting --

    def may_take(self, owner: Any) -> bool:
        """Whether `owner` is below its share of this pool."""
        cap = self.client.max_connections_per_owner
        return owner is None or cap is None or self.held.get(owner, 0) < cap

    def hold(self, owner: Any) -> None:
        if owner is not None:
            self.held[owner] = self.held.get(owner, 0) + 1

    def unhold(self, owner: Any) -> None:
        if owner is not None:
            n = self.held[owner] - 1
            if n:
                self.held[owner] = n
            else:
                del self.held[owner]

    def take_idle(self, owner: Any, now: float) -> Connection | None:
        """A live idle connection, now busy for `owner`; dead ones found on the way are closed."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_deadline > now:
                if owner is not None:  # hold(owner), inline on the path every request takes
                    self.held[owner] = self.held.get(owner, 0) + 1
                conn.owner, conn.busy = owner, True
                return conn
            conn.close_idle()
            self.conns.discard(conn)  # idle, so not held by anyone
        return None

    def reserve(self, owner: Any) -> None:
        """Count a connection being opened for `owner` (ended by `connected` or `unreserve`)."""
        self.connecting += 1
        self.hold(owner)

    def connected(self, conn: Connection, owner: Any) -> None:
        self.connecting -= 1
        self.conns.add(conn)
        conn.owner, conn.busy = owner, True

    def unreserve(self, owner: Any) -> None:
        """A reserved slot was not used (connect failed, waiter gone): pass it on."""
        self.connecting -= 1
        self.unhold(owner)
        self.grant()

    def _unbusy(self, conn: Connection) -> None:
        if conn.busy:
            conn.busy = False
            self.unhold(conn.owner)
            conn.owner = None

    # -- connections coming back --

    def release(self, conn: Connection) -> None:
        """A connection finished a response cleanly: park it idle, then serve a waiter."""
        if conn.busy:  # _unbusy(conn), inline on the path every request takes
            conn.busy = False
            owner = conn.owner
            if owner is not None:  # unhold(owner)
                held = self.held
                n = held[owner] - 1
                if n:
                    held[owner] = n
                else:
                    del held[owner]
            conn.owner = None
        client = self.client
        if client._closed:
            conn.close_idle()
            self.discard(conn)
            return
        now = conn.loop.time()
        limit = client.idle_timeout
        if conn.keep_alive_limit is not None:
            limit = min(limit, conn.keep_alive_limit - 1.0)
        conn.idle_deadline = now + limit
        self.idle.append(conn)
        if self.queues:
            self.grant()
        if self.idle and self.sweeper is None:
            self.sweeper = conn.loop.call_at(self.idle[0].idle_deadline, self.sweep)

    def discard(self, conn: Connection) -> None:
        """A connection is gone: forget it and hand its slot to a waiter."""
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        self._unbusy(conn)
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        self.grant()

    def grant(self) -> None:
        """Hand free capacity (an idle connection, else a free slot) to waiting requests,
        round-robin by owner, skipping owners at their share. The capacity is reserved for the
        waiter at once (a slot is counted in `connecting`), so nobody can take it first."""
        queues = self.queues
        limit = self.client.max_connections_per_host
        while queues:
            idle = self.idle
            if not idle and self.size() >= limit:
                return
            found = self._next_waiter()
            if found is None:
                return
            waiter, owner = found
            conn = self.take_idle(owner, idle[-1].loop.time()) if idle else None
            if conn is not None:
                waiter.set_result(conn)
            elif self.size() < limit:
                self.reserve(owner)
                waiter.set_result(_SLOT)
            else:  # only dead idle connections were left; no capacity after all
                queues.setdefault(owner, deque()).appendleft(waiter)
                return

    def _next_waiter(self) -> tuple[asyncio.Future, Any] | None:
        """The first waiter of the first owner (in round-robin order) below its share; that
        owner moves to the back of the order."""
        queues = self.queues
        for owner in list(queues):
            if not self.may_take(owner):
                continue
            q = queues.pop(owner)
            while q:
                w = q.popleft()
                if not w.done():
                    if q:
                        queues[owner] = q
                    return w, owner
        return None

    def forget(self, owner: Any, waiter: asyncio.Future) -> None:
        """A waiter gave up before it was served."""
        q = self.queues.get(owner)
        if q is not None:
            try:
                q.remove(waiter)
            except ValueError:
                pass
            if not q:
                del self.queues[owner]

    def sweep(self) -> None:
        """Close idle connections past their deadline; reschedule for the next one."""
        self.sweeper = None
        if not self.idle:
            return
        now = self.idle[0].loop.time()
        for conn in [c for c in self.idle if c.idle_deadline <= now]:
            conn.close_idle()
            self.discard(conn)
        if self.idle:
            loop = self.idle[0].loop
            self.sweeper = loop.call_at(min(c.idle_deadline for c in self.idle), self.sweep)


class UpstreamClient:
    """An HTTP/1.1 client with per-origin keep-alive pools. Create it inside a running loop
    (or before; it binds to the loop of its first request) and `await close()` when done."""

    __slots__ = (
        "ssl_context",
        "max_connections_per_host",
        "max_connections_per_owner",
        "idle_timeout",
        "connect_timeout",
        "first_byte_timeout",
        "total_timeout",
        "_limits",
        "_pools",
        "_urls",
        "_closed",
        "_loop",
        "__weakref__",
    )

    def __init__(
        self,
        *,
        max_connections_per_host: int = 100,
        idle_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        first_byte_timeout: float = 120.0,
        total_timeout: float = 600.0,
        ssl_context: ssl.SSLContext | None = None,
        ca_file: str | None = None,
        buffer_limit: int = 256 * 1024,
        max_head_size: int = 65536,
        max_body_size: int = 64 * 1024 * 1024,
        max_connections_per_owner: int | None = None,
    ) -> None:
        """`ca_file` adds a trusted CA bundle (tests) to a default verifying context;
        `ssl_context` replaces the context. `buffer_limit`: unread body bytes per response before
        reading pauses. `max_body_size` bounds `UpstreamResponse.read()` and the inflated size
        of a compressed body. `max_connections_per_owner`: how many connections of one host's
        pool the requests of one `owner` may hold at once (None: no per-owner limit)."""
        if max_connections_per_owner is not None and max_connections_per_owner < 1:
            raise ValueError("max_connections_per_owner must be at least 1 (or None)")
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
            if ca_file is not None:
                ssl_context.load_verify_locations(cafile=ca_file)
            ssl_context.set_alpn_protocols(["http/1.1"])
        self.ssl_context = ssl_context
        self.max_connections_per_host = max_connections_per_host
        self.max_connections_per_owner = max_connections_per_owner
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.total_timeout = total_timeout
        self._limits = (max_head_size, buffer_limit, max_body_size)
        self._pools: dict[PoolKey, _Pool] = {}
        self._urls: dict[str, tuple[PoolKey, bytes, bytes]] = {}
        self._closed = False
        #: The loop of the first request (the client's connections belong to it).
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        """Close idle connections and refuse new requests; busy connections close when done."""
        self._closed = True
        for pool in self._pools.values():
            queues, pool.queues = pool.queues, {}  # first: closing idle ones must grant nothing
            for q in queues.values():
                for w in q:
                    if not w.done():
                        w.set_exception(ClientClosed("client closed"))
            for conn in list(pool.idle):
                conn.close_idle()
                pool.discard(conn)
            if pool.sweeper is not None:
                pool.sweeper.cancel()
                pool.sweeper = None
        await asyncio.sleep(0)  # let transports deliver connection_lost

    def stats(self) -> dict[str, tuple[int, int, int]]:
        """Per origin "scheme://host:port": (open connections, idle, waiting requests)."""
        return {f"{k[0]}://{k[1]}:{k[2]}": (p.size(), len(p.idle), p.waiting()) for k, p in self._pools.items()}

    def owner_connections(self, owner: Any) -> int:
        """How many connections (busy, or being opened) `owner`'s requests hold, all hosts."""
        return sum(p.held.get(owner, 0) for p in self._pools.values())

    async def request(
        self,
        method: str,
        url: str,
        headers: HeadersArg = (),
        body: bytes | bytearray | memoryview | None = None,
        *,
        connect_timeout: float | None = None,
        first_byte_timeout: float | None = None,
        total_timeout: float | None = None,
        decode_content: bool = True,
        owner: Any = None,
        _retried: bool = False,
    ) -> UpstreamResponse:
        """Send one request and return once the response head has arrived. The body is read
        from the returned response. `headers` may not set Host, Content-Length,
        Transfer-Encoding or Connection (the client does). `decode_content`: undo gzip/deflate
        Content-Encoding (the headers still name it). `owner`: any hashable naming whose
        request this is (e.g. the client connection); it counts against that owner's share of
        the host's pool until the response body ends or is abandoned. Raises UpstreamError
        subclasses; cancelling it at any point releases what it held. (`_retried`: this is
        `sent`'s one retry: no other.)"""
        if self._closed:
            raise ClientClosed("client closed")
        loop = self._loop
        if loop is None or loop.is_closed():  # asked once: a getpid() system call each time in CPython 3.11
            loop = self._loop = asyncio.get_running_loop()
        start = loop.time()
        total_deadline = start + (self.total_timeout if total_timeout is None else total_timeout)
        parsed = self._urls.get(url)  # _parse_url's cache, read without its call
        key, target, host = parsed if parsed is not None else self._parse_url(url)
        if headers.__class__ is not list and headers.__class__ is not tuple:  # read more than once below
            headers = headers.items() if isinstance(headers, Mapping) else list(headers)
        # The usual request is written whole in Rust; anything unusual (a bad method, a line
        # break, a character past U+00FF, an odd field) by the checked Python builder.
        data = _codec.request_message(method, target, host, headers, body)
        if data is None:
            head = self._head(method, target, host, headers, body)
            data = head if not body else head + bytes(body)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(key, self)
        is_head = method == "HEAD"
        retried = _retried
        fbt = self.first_byte_timeout if first_byte_timeout is None else first_byte_timeout
        while True:
            # The common case, an idle pooled connection this owner may take, taken and
            # written natively (`_send`, below): no await, no Python frame.
            sent = _send(pool, owner, data, is_head, fbt, total_deadline, decode_content)
            if sent is not None:
                conn, waiter = sent
                reused = True
            else:
                conn, reused = await self._acquire(
                    loop, pool, min(start + (self.connect_timeout if connect_timeout is None else connect_timeout), total_deadline), owner
                )
                waiter = loop.create_future()
                conn.send(data, waiter, is_head, loop.time() + fbt, total_deadline, decode_content)
            try:
                return await waiter
            except ClosedBeforeResponse as e:
                conn.abort()
                if reused and not retried and (not e.written or self._idempotent(method, headers)):
                    retried = True
                    continue
                raise UpstreamConnectionClosed(f"connection closed before any response byte: {e.cause or 'closed by peer'}") from e.cause
            except BaseException:
                conn.abort()
                raise

    async def sent(
        self, conn: Connection, waiter: asyncio.Future, thrown: BaseException | None, method: str, url: str,
        headers: HeadersArg, body: bytes | None, first_byte_timeout: float | None, owner: Any,
    ) -> UpstreamResponse:
        """The rest of `request` for a request `_send` wrote on a pooled connection without
        it (the pipeline's native usual path: rust/src/python/usual_main.rs): the answer's
        head from `waiter`, or `thrown` raised where `request` awaits it (an exception thrown
        into the request meanwhile). A connection closed before any byte is retried once, as
        `request` retries it, within the same total deadline."""
        try:
            if thrown is not None:
                raise thrown
            return await waiter
        except ClosedBeforeResponse as e:
            total_deadline = conn._total_deadline
            conn.abort()
            if not e.written or self._idempotent(method, headers):
                remaining = max(0.0, total_deadline - self._loop.time())
                return await self.request(
                    method, url, headers, body, first_byte_timeout=first_byte_timeout, total_timeout=remaining, owner=owner, _retried=True
                )
            raise UpstreamConnectionClosed(f"connection closed before any response byte: {e.cause or 'closed by peer'}") from e.cause
        except BaseException:
            conn.abort()
            raise

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _idempotent(method: str, headers: HeadersArg) -> bool:
        if method in _IDEMPOTENT:
            return True
        items = headers.items() if isinstance(headers, Mapping) else headers
        return any(_bytes(n).lower() == b"idempotency-key" for n, _ in items)

    async def _acquire(self, loop, pool: _Pool, deadline: float, owner: Any) -> tuple[Connection, bool]:
        """A connection for `owner` in `pool`: an idle one (reused=True), a new one, or the
        capacity the pool grants while this request waits in its owner's queue."""
        if pool.may_take(owner) and owner not in pool.queues:
            conn = pool.take_idle(owner, loop.time()) if pool.idle else None
            if conn is not None:
                return conn, True
            if pool.size() < self.max_connections_per_host:
                pool.reserve(owner)
                return await self._connect(loop, pool, owner, deadline), False
        w = loop.create_future()
        q = pool.queues.get(owner)
        if q is None:
            q = pool.queues[owner] = deque()
        q.append(w)
        try:
            async with asyncio.timeout_at(deadline):
                got = await w
        except BaseException as exc:
            if not w.done() or w.cancelled():
                pool.forget(owner, w)
            elif w.exception() is None:  # capacity was granted just as we gave up: pass it on
                got = w.result()
                if got is _SLOT:
                    pool.unreserve(owner)
                else:
                    pool.release(got)
            if isinstance(exc, TimeoutError):
                raise ConnectTimeout(f"no connection to {pool.key[1]}:{pool.key[2]} within the connect timeout") from None
            raise
        if got is _SLOT:
            return await self._connect(loop, pool, owner, deadline), False
        return got, True

    async def _connect(self, loop, pool: _Pool, owner: Any, deadline: float) -> Connection:
        """Open a connection in a slot reserved for `owner` (`pool.reserve`); the slot is
        given back if this fails or is cancelled."""
        scheme, host, port = pool.key
        conn = Connection(loop, pool, self._limits, _EXCHANGE.receiver)
        ok = False
        try:
            async with asyncio.timeout_at(deadline):
                if scheme == "https":
                    await loop.create_connection(lambda: conn, host, port, ssl=self.ssl_context, server_hostname=host)
                else:
                    await loop.create_connection(lambda: conn, host, port)
            if conn.closed:
                raise UpstreamConnectError(f"connection to {host}:{port} closed during set-up")
            ok = True
        except TimeoutError:
            raise ConnectTimeout(f"no connection to {host}:{port} within the connect timeout") from None
        except (OSError, ssl.SSLError) as e:
            raise UpstreamConnectError(f"cannot connect to {host}:{port}: {e}") from e
        finally:
            if ok:
                pool.connected(conn, owner)
            else:
                pool.unreserve(owner)
                if conn.transport is not None:
                    conn.transport.abort()
        return conn

    def _parse_url(self, url: str) -> tuple[PoolKey, bytes, bytes]:
        """(pool key, request target, Host header value), cached per URL string."""
        hit = self._urls.get(url)
        if hit is not None:
            return hit
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError(f"unsupported URL (need http:// or https:// and a host): {url!r}")
        host = parts.hostname
        port = parts.port or _DEFAULT_PORTS[scheme]
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            target_b = target.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"URL must be percent-encoded ASCII: {url!r}") from None
        if any(c <= 0x20 or c == 0x7F for c in target_b):
            raise ValueError(f"URL contains whitespace or control characters: {url!r}")
        host_h = f"[{host}]" if ":" in host else host
        if parts.port and parts.port != _DEFAULT_PORTS[scheme]:
            host_h = f"{host_h}:{port}"
        result = ((scheme, host, port), target_b, host_h.encode("idna") if not host_h.isascii() else host_h.encode())
        if len(self._urls) >= _URL_CACHE_SIZE:
            self._urls.clear()
        self._urls[url] = result
        return result

    def _head(self, method: str, target: bytes, host: bytes, headers: HeadersArg, body) -> bytes:
        """The request head, checked field by field (ValueError naming what is wrong): the path
        for what `_codec.request_message` leaves to Python. (A per-route cache of the fields
        served the usual request here before that was written in Rust.)"""
        prefix = self._head_fields(method, target, host, headers)
        if body is not None:
            return b"%b\r\nContent-Length: %d\r\n\r\n" % (prefix, len(body))
        if method in ("POST", "PUT", "PATCH"):
            return prefix + b"\r\nContent-Length: 0\r\n\r\n"
        return prefix + b"\r\n\r\n"

    @staticmethod
    def _head_fields(method: str, target: bytes, host: bytes, headers: HeadersArg) -> bytes:
        """Request line, Host and the caller's fields (no Content-Length, no final CRLF),
        checked: a valid method, latin-1 names and values, no CR or LF inside any."""
        if method not in _METHODS:
            if not _TOKEN.fullmatch(method):
                raise ValueError(f"invalid HTTP method: {method!r}")
            if len(_METHODS) < 64:
                _METHODS.add(method)  # validated once per method name
        items = headers.items() if isinstance(headers, Mapping) else headers
        lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\nHost: ", host]
        n = 1
        unencodable = None
        for name, value in items:
            try:
                name_b = _bytes(name)
                value_b = _bytes(value)
            except UnicodeEncodeError:
                unencodable = name  # raised below, outside this handler: no chained error
                break
            if name_b.lower() in _SKIPPED_HEADERS:
                continue
            lines += (b"\r\n", name_b, b": ", value_b)
            n += 1
        if unencodable is not None:
            # Name the header, never the value: a value may be a credential, and a
            # UnicodeEncodeError would carry all of it into logs and tracebacks.
            shown = unencodable if isinstance(unencodable, str) and unencodable.isascii() else "(a non-latin-1 name)"
            raise ValueError(f"header {shown!r} is not latin-1 encodable")
        head = b"".join(lines)
        # Header injection guard: exactly one CR and one LF per line break. Two C scans.
        if head.count(b"\n") != n or head.count(b"\r") != n:
            raise ValueError("header names and values must not contain CR or LF")
        return head


#: The usual exchange in native code (rust/src/python/upstream_exchange.rs): `_send` takes an
#: idle connection and writes the request as `_acquire`'s first case and `Connection.send` do
#: (None when the case is not the usual one; nothing changed then), and each connection's
#: `data_received` takes a whole answer and parks the connection as `Connection._received`
#: and `_Pool.release` do, leaving every other case to them.
_EXCHANGE = _codec.UpstreamExchange(
    UpstreamClient, _Pool, Connection, UpstreamResponse, whole_response, streamed_response, Headers,
    _first_byte_timeout, _total_timeout,
)
_send = _EXCHANGE.send_function()
