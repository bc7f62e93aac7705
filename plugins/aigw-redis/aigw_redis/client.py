"""A pipelined Redis client: one connection, every concurrent command on it, replies in order.

Why not redis-py: its asyncio client spends ~40 µs of CPU per command (a pooled connection
checked out and in, a lock, a parser object per call); the gateway asks Redis two or three
times per request, so that alone was 3-4× the rest of a request. Here a command is packed
(resp.py), appended to a write buffer flushed once per loop iteration (so 64 concurrent
commands cost one write), and its future is resolved by the reply hiredis parses in C:
2.6-15 µs per command, 64 to 1 in flight (benches/README.md, "Redis client").

Redis answers the commands of one connection in the order it got them, so replies are matched
to a FIFO of futures. Timeouts need no timer per command: one watchdog per connection checks
that the oldest outstanding command is younger than `timeout`; if not, the connection is stuck
(every later reply waits behind that one), so every outstanding command fails with TimeoutError
and the connection is dropped. A lost connection fails its outstanding commands with
RedisConnectionError; the next command opens a new one (after AUTH and SELECT from the URL).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import ssl
import time
from typing import Any

import hiredis

from aigw_redis.resp import RedisAddress, RedisConnectionError, RedisError, RedisReplyError, pack_command, parse_url

__all__ = ["RedisClient", "Script"]


class _RespProtocol(asyncio.Protocol):
    """One connection: a write buffer, a FIFO of (future, sent at) and hiredis's reader."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self._loop = loop
        self._timeout = timeout
        self._reader = hiredis.Reader(replyError=RedisReplyError)
        self._waiting: collections.deque[tuple[asyncio.Future[Any], float]] = collections.deque()
        self._out: list[bytes] = []
        self._transport: asyncio.Transport | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = loop.create_future()

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self.closed.done()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def send(self, command: bytes) -> asyncio.Future[Any]:
        future = self._loop.create_future()
        if not self._out:
            self._loop.call_soon(self._flush)
        self._out.append(command)
        self._waiting.append((future, time.monotonic()))
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_oldest)
        return future

    def _flush(self) -> None:
        if self._out and self._transport is not None and not self.closed.done():
            data = b"".join(self._out) if len(self._out) > 1 else self._out[0]
            self._out.clear()
            self._transport.write(data)

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._fail_all(RedisConnectionError(f"Redis sent bytes that are not RESP: {exc}"))
                return
            if reply is False:
                return
            if not waiting:  # a reply nobody asked for: the stream is out of step
                self._fail_all(RedisConnectionError("Redis sent a reply no command was waiting for"))
                return
            future, _ = waiting.popleft()
            if future.done():  # its caller was cancelled; the reply is still consumed in order
                continue
            if isinstance(reply, RedisReplyError):
                future.set_exception(reply)
            else:
                future.set_result(reply)

    def _check_oldest(self) -> None:
        self._watchdog = None
        if not self._waiting:
            return
        age = time.monotonic() - self._waiting[0][1]
        if age >= self._timeout:
            self._fail_all(TimeoutError(f"Redis did not answer within {self._timeout * 1000:.0f} ms"))
            return
        self._watchdog = self._loop.call_later(self._timeout - age, self._check_oldest)

    def _fail_all(self, exc: BaseException) -> None:
        if self._transport is not None:
            self._transport.abort()  # connection_lost follows; nothing more is read from it
        self._fail_waiting(exc)

    def _fail_waiting(self, exc: BaseException) -> None:
        while self._waiting:
            future, _ = self._waiting.popleft()
            if not future.done():
                future.set_exception(exc)
        self._out.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if not self.closed.done():
            self.closed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail_waiting(RedisConnectionError(f"the connection to Redis was lost ({exc or 'closed'})"))

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Script:
    """A Lua script run with EVALSHA, and with EVAL when Redis does not know it (NOSCRIPT)."""

    def __init__(self, client: RedisClient, source: str) -> None:
        self.client = client
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    async def __call__(self, keys: list[str], args: list[Any]) -> Any:
        """The script's reply for `keys` and `args`."""
        try:
            return await self.client.execute("EVALSHA", self.sha, len(keys), *keys, *args)
        except RedisReplyError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.client.execute("EVAL", self.source, len(keys), *keys, *args)


class RedisClient:
    """Commands to one Redis over one pipelined connection (see the module docstring)."""

    def __init__(self, url: str, *, timeout: float = 0.25) -> None:
        self.address: RedisAddress = parse_url(url)
        self.timeout = timeout
        self._protocol: _RespProtocol | None = None
        self._connecting: asyncio.Future[_RespProtocol] | None = None

    async def execute(self, *args: Any) -> Any:
        """Send one command and return its reply (bytes, int, list, None...).

        Raises RedisReplyError for an error reply, RedisConnectionError when Redis cannot be
        reached or the connection is lost, TimeoutError after `timeout` without a reply."""
        protocol = self._protocol
        if protocol is None or not protocol.usable:
            protocol = await self._connect()
        return await protocol.send(pack_command(*args))

    def script(self, source: str) -> Script:
        """A callable running `source` (EVALSHA with an EVAL fallback)."""
        return Script(self, source)

    async def ping(self) -> None:
        """PING; raises as `execute` does."""
        await self.execute("PING")

    async def _connect(self) -> _RespProtocol:
        # Concurrent first commands share one connection attempt.
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            return await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _RespProtocol:
        loop = asyncio.get_running_loop()
        a = self.address

        def factory() -> _RespProtocol:
            return _RespProtocol(loop, self.timeout)

        try:
            async with asyncio.timeout(self.timeout):
                if a.path:
                    _, protocol = await loop.create_unix_connection(factory, a.path)
                else:
                    context = ssl.create_default_context() if a.tls else None
                    _, protocol = await loop.create_connection(factory, a.host, a.port, ssl=context)
        except (OSError, TimeoutError) as exc:
            raise RedisConnectionError(f"cannot connect to Redis at {a.where}: {exc.__class__.__name__}: {exc}") from None
        try:
            for command in a.login_commands():
                await protocol.send(pack_command(*command))
        except BaseException:
            protocol.close()
            raise
        self._protocol = protocol
        return protocol

    async def aclose(self) -> None:
        """Close the connection (outstanding commands fail with RedisConnectionError)."""
        protocol, self._protocol = self._protocol, None
        if protocol is not None:
            protocol.close()
            await protocol.closed


__all__ += ["RedisError", "RedisReplyError", "RedisConnectionError"]
