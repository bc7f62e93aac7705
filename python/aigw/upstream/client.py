"""A lean HTTP/1.1 keep-alive client for calling AI providers, over the running loop's transports.

Why not aiohttp's client: it costs 60-100 µs of CPU per small request, against a per-request
budget of about 50 µs for the whole gateway. This client keeps per request only what it must:
one head `bytes`, one future, one response object and at most two timer handles; the response
head is parsed in Rust and chunked bodies are decoded in Rust.

Connections are pooled per (scheme, host, port) with a size limit (callers queue when it is
full), most-recently-used first, and closed after `idle_timeout` (or the server's Keep-Alive
timeout, whichever is shorter).

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
from urllib.parse import urlsplit

from .connection import ClosedBeforeResponse, Connection
from .errors import ClientClosed, ConnectTimeout, UpstreamConnectError, UpstreamConnectionClosed
from .response import UpstreamResponse

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


class _Pool:
    """The connections to one origin: idle ones (a stack), a count of all, queued waiters."""

    __slots__ = ("key", "client", "idle", "conns", "connecting", "waiters", "sweeper")

    def __init__(self, key: PoolKey, client: UpstreamClient) -> None:
        self.key = key
        self.client = client
        self.idle: list[Connection] = []
        self.conns: set[Connection] = set()
        self.connecting = 0
        self.waiters: deque[asyncio.Future] = deque()
        self.sweeper: asyncio.TimerHandle | None = None

    def size(self) -> int:
        return len(self.conns) + self.connecting

    def release(self, conn: Connection) -> None:
        """A connection finished a response cleanly: hand it to a waiter or park it idle."""
        client = self.client
        if client._closed:
            conn.close_idle()
            self.discard(conn)
            return
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(conn)
                return
        now = conn.loop.time()
        limit = client.idle_timeout
        if conn.keep_alive_limit is not None:
            limit = min(limit, conn.keep_alive_limit - 1.0)
        conn.idle_deadline = now + limit
        self.idle.append(conn)
        if self.sweeper is None:
            self.sweeper = conn.loop.call_at(conn.idle_deadline, self.sweep)

    def discard(self, conn: Connection) -> None:
        """A connection is gone: forget it and let one waiter open a new one."""
        if conn not in self.conns:
            return
        self.conns.discard(conn)
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        self.wake_one()

    def wake_one(self) -> None:
        while self.waiters:
            w = self.waiters.popleft()
            if not w.done():
                w.set_result(None)  # None: a slot is free, connect yourself
                return

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
    ) -> None:
        """`ca_file` adds a trusted CA bundle (tests) to a default verifying context;
        `ssl_context` replaces the context. `buffer_limit`: unread body bytes per response before
        reading pauses. `max_body_size` bounds `UpstreamResponse.read()`."""
        if ssl_context is None:
            ssl_context = ssl.create_default_context()
            if ca_file is not None:
                ssl_context.load_verify_locations(cafile=ca_file)
            ssl_context.set_alpn_protocols(["http/1.1"])
        self.ssl_context = ssl_context
        self.max_connections_per_host = max_connections_per_host
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self.first_byte_timeout = first_byte_timeout
        self.total_timeout = total_timeout
        self._limits = (max_head_size, buffer_limit, max_body_size)
        self._pools: dict[PoolKey, _Pool] = {}
        self._urls: dict[str, tuple[PoolKey, bytes, bytes]] = {}
        self._closed = False

    async def __aenter__(self) -> UpstreamClient:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def close(self) -> None:
        """Close idle connections and refuse new requests; busy connections close when done."""
        self._closed = True
        for pool in self._pools.values():
            for conn in list(pool.idle):
                conn.close_idle()
                pool.discard(conn)
            if pool.sweeper is not None:
                pool.sweeper.cancel()
                pool.sweeper = None
            while pool.waiters:
                w = pool.waiters.popleft()
                if not w.done():
                    w.set_exception(ClientClosed("client closed"))
        await asyncio.sleep(0)  # let transports deliver connection_lost

    def stats(self) -> dict[str, tuple[int, int, int]]:
        """Per origin "scheme://host:port": (open connections, idle, waiting requests)."""
        return {f"{k[0]}://{k[1]}:{k[2]}": (p.size(), len(p.idle), len(p.waiters)) for k, p in self._pools.items()}

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
    ) -> UpstreamResponse:
        """Send one request and return once the response head has arrived. The body is read
        from the returned response. `headers` may not set Host, Content-Length,
        Transfer-Encoding or Connection (the client does). `decode_content`: undo gzip/deflate
        Content-Encoding (the headers still name it). Raises UpstreamError subclasses."""
        if self._closed:
            raise ClientClosed("client closed")
        loop = asyncio.get_running_loop()
        start = loop.time()
        total_deadline = start + (self.total_timeout if total_timeout is None else total_timeout)
        key, target, host = self._parse_url(url)
        head = self._build_head(method, target, host, headers, body)
        data = head if not body else head + bytes(body)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = _Pool(key, self)
        is_head = method == "HEAD"
        retried = False
        fbt = self.first_byte_timeout if first_byte_timeout is None else first_byte_timeout
        while True:
            conn, reused = await self._acquire(
                loop, pool, min(start + (self.connect_timeout if connect_timeout is None else connect_timeout), total_deadline)
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

    # -- internals -----------------------------------------------------------------------

    @staticmethod
    def _idempotent(method: str, headers: HeadersArg) -> bool:
        if method in _IDEMPOTENT:
            return True
        items = headers.items() if isinstance(headers, Mapping) else headers
        return any(_bytes(n).lower() == b"idempotency-key" for n, _ in items)

    async def _acquire(self, loop, pool: _Pool, deadline: float) -> tuple[Connection, bool]:
        """A connection for `pool`: an idle one (reused=True), a new one, or the first one
        released while waiting in the queue."""
        idle = pool.idle
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.idle_deadline > loop.time():
                return conn, True
            conn.close_idle()
            pool.discard(conn)
        try:
            async with asyncio.timeout_at(deadline):
                while True:
                    if pool.size() < self.max_connections_per_host:
                        return await self._connect(loop, pool), False
                    w = loop.create_future()
                    pool.waiters.append(w)
                    try:
                        conn = await w
                    except BaseException:
                        if w.done() and not w.cancelled() and w.exception() is None and w.result() is not None:
                            pool.release(w.result())  # handed over just as we gave up
                        raise
                    if conn is not None:
                        return conn, True
                    while idle:  # a slot was freed; an idle connection may also be there
                        c = idle.pop()
                        if not c.closed and c.idle_deadline > loop.time():
                            return c, True
                        c.close_idle()
                        pool.discard(c)
        except TimeoutError:
            raise ConnectTimeout(f"no connection to {pool.key[1]}:{pool.key[2]} within the connect timeout") from None

    async def _connect(self, loop, pool: _Pool) -> Connection:
        scheme, host, port = pool.key
        conn = Connection(loop, pool, self._limits)
        pool.connecting += 1
        try:
            if scheme == "https":
                await loop.create_connection(lambda: conn, host, port, ssl=self.ssl_context, server_hostname=host)
            else:
                await loop.create_connection(lambda: conn, host, port)
        except (OSError, ssl.SSLError) as e:
            raise UpstreamConnectError(f"cannot connect to {host}:{port}: {e}") from e
        finally:
            pool.connecting -= 1
        if conn.closed:
            raise UpstreamConnectError(f"connection to {host}:{port} closed during set-up")
        pool.conns.add(conn)
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

    @staticmethod
    def _build_head(method: str, target: bytes, host: bytes, headers: HeadersArg, body) -> bytes:
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
        if body is not None:
            lines += (b"\r\nContent-Length: ", str(len(body)).encode())
            n += 1
        elif method in ("POST", "PUT", "PATCH"):
            lines.append(b"\r\nContent-Length: 0")
            n += 1
        lines.append(b"\r\n\r\n")
        head = b"".join(lines)
        # Header injection guard: exactly one CR and one LF per line, at its end. Two C scans.
        if head.count(b"\n") != n + 2 or head.count(b"\r") != n + 2:
            raise ValueError("header names and values must not contain CR or LF")
        return head
