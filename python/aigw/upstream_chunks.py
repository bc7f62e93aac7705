"""A streamed upstream body as the sinks read it: chunks, failures as gateway errors, and the
stream-idle timeout (a part of the pipeline, kept apart to keep pipeline.py small)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from aigw import _codec
from aigw.errors import ProviderFailed, RequestTimeout
from aigw.upstream.errors import UpstreamError, UpstreamTimeout

__all__ = ["StreamFailed", "StreamIdleTimeout", "UpstreamChunks", "relay_chunks"]

#: What a consumer of `relay_chunks` is: called with each chunk, it returns False when its
#: client is full (then the upstream is not read until `drained()` returns).
Consume = Callable[[bytes], bool]

_END = object()  # the pushed body ended
_FULL = object()  # the consumer asked for a pause


def _never_pushed(on_data: Any, on_end: Any) -> bool:
    """`push_to` of a response that cannot push (a stand-in): it is iterated."""
    return False


async def relay_chunks(chunks: AsyncIterator[bytes], consume: Consume, drained: Callable[[], Awaitable[None]]) -> None:
    """Hand every chunk of `chunks` to `consume` until the body ends, awaiting `drained()`
    whenever `consume` says its client is full. UpstreamChunks push their chunks from the
    upstream connection (`UpstreamChunks.pump`); any other iterator (a translated stream) is
    iterated. Raises as iteration does, and what `consume` raises."""
    pump = getattr(chunks, "pump", None)
    if pump is not None:
        await pump(consume, drained)
        return
    async for chunk in chunks:
        if not consume(chunk):
            await drained()


class StreamFailed(ProviderFailed):
    """A streamed answer broke after it started (reset, malformed, truncated, no terminator)."""


class StreamIdleTimeout(RequestTimeout):
    """A streamed answer sent nothing for longer than its stream-idle timeout."""


class UpstreamChunks:
    """A streamed upstream body as an async iterator of bytes for a sink. Iteration raises
    StreamFailed when the upstream breaks and StreamIdleTimeout after `idle` seconds without
    data; either way the upstream response is closed (its connection released).

    The idle timeout is one timer per stream, not one per chunk (asyncio.timeout around each
    wait cost ~1.4 µs per paced chunk): it fires `idle` after the wait that was current when it
    was armed began; if that wait has ended by then, it re-arms for the wait in progress, or
    for the next one. An expired wait is ended as asyncio.timeout ends one: the waiting task is
    cancelled and the cancellation turned into StreamIdleTimeout (a cancellation from anyone
    else still propagates)."""

    __slots__ = ("_resp", "_it", "_next", "_idle", "_pending", "_label", "received", "_timer", "_waiting_since", "_task", "_expired", "_loop", "_consume", "_pushed")

    def __init__(self, resp: Any, idle: float | None, label: str) -> None:
        self._resp = resp
        # An UpstreamResponse hands out what is here without a coroutine (`next_chunk`, then
        # its `data_ready` future): a paced chunk wakes two coroutine frames (the sink's loop
        # and __anext__) instead of five. Any other response (a stand-in) is iterated.
        self._next = getattr(resp, "next_chunk", None)
        self._it = None if self._next is not None else resp.iter_chunks().__aiter__()
        self._idle = idle
        self._pending: bytes | None = None
        self._label = label
        self.received = 0  # chunks handed out so far
        self._timer: asyncio.TimerHandle | None = None
        self._waiting_since: float | None = None  # loop time the current wait for data began
        self._task: asyncio.Task | None = None  # the task reading the stream
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expired = False
        self._consume: Consume | None = None  # pump's consumer
        self._pushed: asyncio.Future | None = None  # pump's wait: _END, _FULL or the failure

    def __aiter__(self) -> UpstreamChunks:
        return self

    async def __anext__(self) -> bytes:
        if self._pending is not None:
            chunk, self._pending = self._pending, None
            self.received += 1
            return chunk
        resp = self._resp
        try:
            nxt = self._next
            if nxt is None:
                chunk = await self._iterate()
            else:
                # The loop a paced chunk runs: nothing here yet, so wait on the response's
                # future directly (no coroutine in between), under the idle watchdog.
                while (chunk := nxt()) is None:
                    ready = resp.data_ready()
                    if ready is None:
                        continue
                    self._watch()
                    try:
                        await ready
                    except asyncio.CancelledError:
                        resp.close()  # an abandoned body: its connection is discarded
                        self._raise_if_expired()
                        raise
                    finally:
                        self._waiting_since = None
                if not chunk:
                    raise StopAsyncIteration
        except StopAsyncIteration:
            self._stop_watching()
            raise
        except UpstreamError as exc:
            raise self._failure(exc) from None
        except BaseException:  # cancelled (the sink's client went away), or the idle timeout
            self._stop_watching()
            raise
        self.received += 1
        return chunk

    def _failure(self, exc: UpstreamError) -> StreamFailed | StreamIdleTimeout:
        """The gateway error for an upstream failure mid-stream (the response is closed)."""
        self._fail()
        if isinstance(exc, UpstreamTimeout):
            return StreamIdleTimeout(f"{self._label}: the upstream stream timed out: {exc}")
        return StreamFailed(f"{self._label}: the upstream stream failed: {exc}")

    async def pump(self, consume: Consume, drained: Callable[[], Awaitable[None]]) -> None:
        """Hand every chunk to `consume` until the body ends (see `relay_chunks`).

        What is buffered is handed over here; then the response pushes each chunk from its
        connection's `data_received` (`UpstreamResponse.push_to`) while this task waits once
        for the end: a paced chunk wakes no task. When `consume` says its client is full the
        connection stops reading until `drained()` returns. The idle timeout holds as for
        iteration: it counts from the last chunk, never while the client is behind. A body
        that cannot be pushed (compressed, or not an UpstreamResponse) is iterated."""
        resp = self._resp
        push_to = getattr(resp, "push_to", None) or _never_pushed
        on_data = _PUSHES.make(self) or self._on_data  # the native one for this exact class
        loop = self._loop
        if loop is None:  # once per stream (a getpid() each in CPython 3.11)
            loop = self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        self._consume = consume
        while True:
            # What is here already (the prefetched chunk, what arrived while the client was
            # behind) is pulled, as is a body that cannot be pushed (compressed) to its end.
            while self._pending is not None or not push_to(on_data, self._on_end):
                try:
                    chunk = await self.__anext__()
                except StopAsyncIteration:
                    return
                if not consume(chunk):
                    await drained()
            self._pushed = pushed = loop.create_future()
            self._watch()
            try:
                outcome = await pushed
            except asyncio.CancelledError:
                resp.close()  # an abandoned body: its connection is discarded
                if pushed.done() and not pushed.cancelled():
                    pushed.exception()  # retrieved: the cancellation wins
                self._raise_if_expired()
                raise
            except BaseException:
                self._stop_watching()
                raise
            finally:
                self._waiting_since = None
                self._pushed = None
                push_to(None, None)
            if outcome is _END:
                self._stop_watching()
                return
            await drained()  # _FULL: the connection is paused until the next push_to

    def _on_data(self, chunk: bytes) -> None:
        # Inside the upstream connection's data_received: never raise there. The native
        # `on_data` (_codec.ChunkPushes, rust/src/python/chunk_push.rs) does the same.
        self.received += 1
        if self._idle is not None:
            self._waiting_since = self._loop.time()  # type: ignore[union-attr]
        pushed = self._pushed
        try:
            full = not self._consume(chunk)  # type: ignore[misc]
        except Exception as exc:
            self._consume_failed(pushed, exc)
            return
        if full:
            self._consumer_full(pushed)

    def _consume_failed(self, pushed: asyncio.Future | None, exc: Exception) -> None:
        """The consumer raised `exc`: the pump ends with it (the response is closed)."""
        self._resp.close()
        if pushed is not None and not pushed.done():
            pushed.set_exception(exc)

    def _consumer_full(self, pushed: asyncio.Future | None) -> None:
        """The consumer's client is full: stop pushing and reading until it drains."""
        self._resp.push_to(None, None)
        self._resp.pause()
        if pushed is not None and not pushed.done():
            pushed.set_result(_FULL)

    def _on_end(self, exc: BaseException | None) -> None:
        pushed = self._pushed
        if pushed is None or pushed.done():
            return
        if exc is None:
            pushed.set_result(_END)
        elif isinstance(exc, UpstreamError):
            pushed.set_exception(self._failure(exc))
        else:
            pushed.set_exception(exc)

    async def _iterate(self) -> bytes:
        """The next chunk of a response without `next_chunk`, through its iterator."""
        assert self._it is not None
        resp = self._resp
        if self._idle is None or resp.buffered or resp.complete:
            return await self._it.__anext__()  # data is already there: no timer to pay for
        self._watch()
        try:
            return await self._it.__anext__()
        except asyncio.CancelledError:
            self._resp.close()  # an abandoned body: its connection is discarded
            self._raise_if_expired()
            raise
        finally:
            self._waiting_since = None

    def _watch(self) -> None:
        """A wait for upstream data begins: note when, and arm the idle timer if none is."""
        if self._idle is None:
            return
        loop = self._loop
        if loop is None:
            # Once per stream: get_running_loop() and current_task() each cost a getpid()
            # system call in CPython 3.11. One task reads a stream from start to end.
            loop = self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
        self._waiting_since = since = loop.time()
        if self._timer is None:
            self._timer = loop.call_at(since + self._idle, self._check_idle)

    def _raise_if_expired(self) -> None:
        """In a cancelled wait: StreamIdleTimeout when the cancellation was the idle timer's
        alone (anyone else's propagates, as asyncio.timeout does)."""
        if self._expired and self._task is not None and self._task.uncancel() == 0:
            ms = round(self._idle * 1000) if self._idle else 0
            raise StreamIdleTimeout(f"{self._label}: the upstream stream sent nothing for {ms} ms") from None

    def _check_idle(self) -> None:
        self._timer = None
        since = self._waiting_since
        if since is None or self._task is None:
            return  # not waiting: the next wait arms the timer again
        loop = self._loop
        assert self._idle is not None and loop is not None
        if loop.time() - since >= self._idle:
            self._expired = True
            self._task.cancel()
        else:
            self._timer = loop.call_at(since + self._idle, self._check_idle)

    def _stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fail(self) -> None:
        self._stop_watching()
        self._resp.close()

    async def prefetch(self) -> bool:
        """Wait for the first chunk (kept for the sink); False when the body ended empty.
        Raises like iteration: a failure here happened before the client saw anything."""
        try:
            self._pending = await self.__anext__()
        except StopAsyncIteration:
            return False
        self.received -= 1  # handed out again by the next __anext__
        return True


#: `UpstreamChunks._on_data` in native code (rust/src/python/chunk_push.rs): `make(chunks)` gives
#: the pushed body's `on_data` for an UpstreamChunks, None for a subclass.
_PUSHES = _codec.ChunkPushes(UpstreamChunks)
