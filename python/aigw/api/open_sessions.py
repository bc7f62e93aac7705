"""Open WebSocket connections by the token that authenticated them, closed when it is revoked.

Every accepted upgrade with a principal is wrapped by `OpenSessions.track`. The wrapper only
sees ``on_open`` and ``on_close`` (to register and forget the connection): its ``on_message``
*is* the session's bound method, which the server caches, so messages pay nothing for it.

When the auth backend reports token ids that are no longer valid (revoked, or expired),
`OpenSessions.revoke` ends each of their connections: the session's in-flight requests are
cancelled and awaited (each answered ``universal.done`` with ``cancelled`` and logged), then the
connection is closed with 1008 (policy violation), as docs/websocket-api.md promises.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Iterable

from aigw.server.app import WebSocketHandler

__all__ = ["REVOKED_CLOSE_CODE", "OpenSessions"]

log = logging.getLogger("aigw.api")

#: RFC 6455 1008 "policy violation": the credentials of the connection are no longer valid.
REVOKED_CLOSE_CODE = 1008
REVOKED_REASON = "auth token revoked"


class _Tracked(WebSocketHandler):
    """A session registered under its token id for as long as its connection is open."""

    def __init__(self, sessions: OpenSessions, token_id: str, inner: Any) -> None:
        self._sessions = sessions
        self.token_id = token_id
        self.inner = inner
        self.subprotocol = getattr(inner, "subprotocol", None)
        self.on_message = inner.on_message  # type: ignore[method-assign]  # no per-message hop
        self.ws: Any = None
        self.revoking = False

    def __getattr__(self, name: str) -> Any:
        # Anything else is the session's (introspection, tests); messages never come here.
        return getattr(self.inner, name)

    def on_open(self, ws: Any) -> None:
        self.ws = ws
        self._sessions._add(self)
        self.inner.on_open(ws)

    def on_close(self, ws: Any, code: int, reason: str) -> None:
        self._sessions._discard(self)
        self.inner.on_close(ws, code, reason)

    async def end(self) -> None:
        """Cancel the session's in-flight work (when it can), then close with 1008."""
        if self.revoking:
            return
        self.revoking = True
        cancel_all = getattr(self.inner, "cancel_all", None)
        if cancel_all is not None:
            await cancel_all()
        if self.ws is not None:
            self.ws.close(REVOKED_CLOSE_CODE, REVOKED_REASON)


class OpenSessions:
    """token id → open connections it authenticated (only on the event loop)."""

    def __init__(self) -> None:
        self._by_token: dict[str, set[_Tracked]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def track(self, token_id: str, handler: Any) -> WebSocketHandler:
        """The handler to hand to the server in place of `handler`."""
        return _Tracked(self, token_id, handler)

    def count(self, token_id: str | None = None) -> int:
        """Open connections (of one token, or all)."""
        if token_id is not None:
            return len(self._by_token.get(token_id, ()))
        return sum(len(s) for s in self._by_token.values())

    def revoke(self, token_ids: Iterable[str]) -> None:
        """End every open connection authenticated by one of `token_ids` (see the module
        docstring); returns at once, the work runs in tasks."""
        loop = asyncio.get_running_loop()
        for token_id in token_ids:
            for tracked in list(self._by_token.get(token_id, ())):
                task = loop.create_task(tracked.end())
                self._closing.add(task)
                task.add_done_callback(self._ended)
            if token_id in self._by_token:
                log.info("auth token %s is no longer valid: closing its %d connection(s)", token_id, self.count(token_id))

    async def wait_closed(self) -> None:
        """Wait for the revocations under way (tests, shutdown)."""
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self._closing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("closing a connection of a revoked token failed", exc_info=task.exception())

    def _add(self, tracked: _Tracked) -> None:
        self._by_token.setdefault(tracked.token_id, set()).add(tracked)

    def _discard(self, tracked: _Tracked) -> None:
        sessions = self._by_token.get(tracked.token_id)
        if sessions is not None:
            sessions.discard(tracked)
            if not sessions:
                del self._by_token[tracked.token_id]
