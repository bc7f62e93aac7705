"""A Python client for the Universal WebSocket API, on the `websockets` library.

One connection carries many concurrent requests; each is matched to its answers by eventId.

    async with UniversalClient("ws://127.0.0.1:8787/v1/acct/default", token="...") as gw:
        result = await gw.create("openai", "chat/completions", {"model": "gpt-4o-mini", "messages": [...]})
        async for chunk in gw.stream("anthropic", "v1/messages", {..., "stream": True}):
            print(chunk)

The connection is opened lazily and re-opened on demand after it drops; requests in flight
when it drops fail with ConnectionLost.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Mapping, Sequence

import orjson

try:
    import websockets
    from websockets.asyncio.client import ClientConnection, connect
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("aigw.client needs the websockets library: pip install 'aigw[client]'") from exc

__all__ = ["UniversalClient", "Result", "GatewayError", "ConnectionLost"]


class GatewayError(Exception):
    """The gateway answered a request with an error (its own, or after a stream started)."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None, metadata: dict | None = None):
        super().__init__(message)
        self.code, self.status, self.metadata = code, status, metadata or {}


class ConnectionLost(GatewayError):
    """The WebSocket closed while the request was in flight."""


@dataclass(slots=True)
class Result:
    """A finished request: the metadata of its last message and, when not streamed, the body."""

    metadata: dict[str, Any]
    response: Any = None
    chunks: list[Any] = field(default_factory=list)

    @property
    def status(self) -> int | None:
        return self.metadata.get("status")


_END = object()


class _Pending:
    __slots__ = ("queue", "done")

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.done = False


class UniversalClient:
    """A multiplexed Universal API connection. Safe to share between tasks on one loop."""

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        token_in_subprotocol: bool = False,
        open_timeout: float = 10.0,
        **connect_kwargs: Any,
    ) -> None:
        self.url = url
        self.token = token
        self.token_in_subprotocol = token_in_subprotocol
        self.open_timeout = open_timeout
        self.connect_kwargs = connect_kwargs
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task | None = None
        self._opening: asyncio.Lock | None = None
        self._pending: dict[str, _Pending] = {}
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    async def __aenter__(self) -> "UniversalClient":
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- connection --
    async def connect(self) -> None:
        """Open the WebSocket unless it is open already."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._ws is not None and self._reader is not None and not self._reader.done():
                return
            headers, subprotocols = {}, None
            if self.token and self.token_in_subprotocol:
                subprotocols = [f"cf-aig-authorization.{self.token}"]
            elif self.token:
                headers["cf-aig-authorization"] = f"Bearer {self.token}"
            self._ws = await connect(
                self.url,
                additional_headers=headers,
                subprotocols=subprotocols,
                open_timeout=self.open_timeout,
                max_size=None,
                **self.connect_kwargs,
            )
            self._reader = asyncio.create_task(self._read(self._ws))

    async def close(self) -> None:
        """Close the connection; requests still in flight fail with ConnectionLost."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._ws = self._reader = None

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                msg = orjson.loads(raw)
                event_id = (msg.get("metadata") or {}).get("eventId")
                pending = self._pending.get(event_id) if event_id is not None else None
                if pending is not None:
                    pending.queue.put_nowait(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for pending in self._pending.values():
                pending.queue.put_nowait(_END)

    # -- requests --
    def _new_event_id(self) -> str:
        return f"{self._prefix}-{next(self._ids)}"

    async def _send(self, event_id: str, request: Any) -> _Pending:
        if event_id in self._pending:
            raise ValueError(f"eventId {event_id!r} is already in flight on this client")
        await self.connect()
        pending = self._pending[event_id] = _Pending()
        try:
            await self._ws.send(orjson.dumps({"type": "universal.create", "request": request}).decode())
        except BaseException:
            self._pending.pop(event_id, None)
            raise
        return pending

    @staticmethod
    def _step(provider: str, endpoint: str, query: Any, headers: Mapping[str, str] | None, config: Mapping | None) -> dict:
        step: dict[str, Any] = {"provider": provider, "endpoint": endpoint, "headers": dict(headers or {}), "query": query}
        if config:
            step["config"] = dict(config)
        return step

    def _request(self, event_id: str, provider, endpoint, query, headers, config, steps) -> Any:
        if steps is not None:
            request = [dict(s) for s in steps]
            request[0]["eventId"] = event_id
            return request
        step = self._step(provider, endpoint, query, headers, config)
        step["eventId"] = event_id
        return step

    async def _messages(self, event_id: str, pending: _Pending) -> AsyncIterator[dict]:
        try:
            while True:
                msg = await pending.queue.get()
                if msg is _END:
                    raise ConnectionLost("the connection closed before the request finished", metadata={"eventId": event_id})
                yield msg
        finally:
            self._pending.pop(event_id, None)

    async def create(
        self,
        provider: str | None = None,
        endpoint: str | None = None,
        query: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
        event_id: str | None = None,
        raise_for_status: bool = False,
    ) -> Result:
        """Run one request (one step, or `steps` as a fallback chain) and wait for its answer.
        A streamed answer is collected into `Result.chunks`."""
        event_id = event_id or self._new_event_id()
        pending = await self._send(event_id, self._request(event_id, provider, endpoint, query, headers, config, steps))
        result = Result(metadata={})
        async for msg in self._messages(event_id, pending):
            kind = msg.get("type")
            if kind == "universal.stream":
                result.chunks.append(msg.get("response"))
                continue
            result.metadata = msg.get("metadata") or {}
            if kind == "universal.error":
                err = msg.get("error") or {}
                raise GatewayError(err.get("message", "error"), code=err.get("code"), status=result.status, metadata=result.metadata)
            if kind == "universal.created":
                result.response = msg.get("response")
                if result.metadata.get("contentType") != "text/event-stream" or "error" in result.metadata or result.response is not None:
                    break
            elif kind == "universal.done":
                if "error" in result.metadata:
                    err = result.metadata["error"]
                    raise GatewayError(err.get("message", "stream failed"), code=err.get("code"), metadata=result.metadata)
                break
        if raise_for_status and (result.status or 200) >= 400:
            raise GatewayError(f"request failed with status {result.status}", status=result.status, metadata=result.metadata)
        return result

    async def stream(
        self,
        provider: str | None = None,
        endpoint: str | None = None,
        query: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        steps: Sequence[Mapping[str, Any]] | None = None,
        event_id: str | None = None,
        metadata: dict | None = None,
    ) -> AsyncIterator[Any]:
        """Run one streamed request and yield each chunk's `response` as it arrives.
        Pass a dict as `metadata` to receive the final metadata. A non-streamed successful
        answer is yielded as a single item. Errors raise GatewayError: the gateway's own
        (with its code), an upstream error answer (status >= 400, with `status`), a stream
        that broke after it started; leaving the loop early cancels."""
        event_id = event_id or self._new_event_id()
        pending = await self._send(event_id, self._request(event_id, provider, endpoint, query, headers, config, steps))
        finished = False
        try:
            async for msg in self._messages(event_id, pending):
                kind = msg.get("type")
                if kind == "universal.stream":
                    yield msg.get("response")
                    continue
                meta = msg.get("metadata") or {}
                if metadata is not None:
                    metadata.clear()
                    metadata.update(meta)
                failed_answer = kind == "universal.created" and (meta.get("status") or 200) >= 400
                if kind == "universal.error" or failed_answer or (kind == "universal.done" and "error" in meta):
                    err = msg.get("error") or meta.get("error") or {}
                    if failed_answer:
                        # The gateway's own error (Cloudflare's error body) or an upstream error answer.
                        response = msg.get("response")
                        errors = response.get("errors") if isinstance(response, dict) else None
                        first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
                        err = {"code": first.get("code"), "message": first.get("message") or f"request failed with status {meta.get('status')}"}
                    finished = True
                    raise GatewayError(err.get("message", "error"), code=err.get("code"), status=meta.get("status"), metadata=meta)
                if kind == "universal.created" and meta.get("contentType") != "text/event-stream":
                    finished = True
                    yield msg.get("response")
                    return
                if kind == "universal.done":
                    finished = True
                    return
        finally:
            if not finished and self._ws is not None and event_id in self._pending:
                self._pending.pop(event_id, None)
                try:
                    await self.cancel(event_id)
                except websockets.ConnectionClosed:
                    pass

    async def cancel(self, event_id: str) -> None:
        """Ask the gateway to abort the request with this eventId."""
        await self.connect()
        await self._ws.send(orjson.dumps({"type": "universal.cancel", "eventId": event_id}).decode())
