"""`WEBSOCKET /ui/api/live`: the console's live log, new rows pushed as the store gets them.

The session reads the log store through `LogStore.query` (oldest first, after the newest row
it has sent) every `interval` seconds and pushes `{"type": "logs", "rows": [...]}` when there
are new ones. It reads the store rather than tapping the request path, so it shows what is
stored — whatever process wrote it (several workers, a shared PostgreSQL store) — and adds
nothing to any request. Rows arrive within the logger's batch delay plus `interval`.

The client may name where to start with `?after=<log id>` (the newest row it already has);
otherwise the stream starts after the newest stored row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs

import orjson

from aigw.console.rows import row
from aigw.errors import bug_report
from aigw.interfaces import LogStore
from aigw.log_query import MAX_CURSOR_CHARS, LogQuery
from aigw.server.app import ConnectionClosed, WebSocketHandler

__all__ = ["CONSOLE_SUBPROTOCOL", "LiveLogs"]

#: The subprotocol the console offers next to the auth one (the browser needs one selected).
CONSOLE_SUBPROTOCOL = "aigw.console.v1"
PAGE = 200
#: A quiet live view still sends a message this often, so the server's idle timer (no data
#: message either way) never closes it. Not `work_started`: that would hold up shutdown.
KEEPALIVE = 30.0

log = logging.getLogger("aigw.console")


def start_after(query_string: str) -> str | None:
    """The `after` log id of a live URL's query, if it is a plausible one."""
    values = parse_qs(query_string).get("after")
    value = values[0] if values else None
    return value if value and len(value) <= MAX_CURSOR_CHARS else None


class LiveLogs(WebSocketHandler):
    """One console's live log connection (see the module docstring)."""

    def __init__(self, store: LogStore, *, after: str | None, subprotocol: str | None, interval: float = 0.25) -> None:
        self.store = store
        self.after = after
        self.subprotocol = subprotocol
        self.interval = interval
        self._task: asyncio.Task | None = None

    def on_open(self, ws: Any) -> None:  # noqa: D102
        self._task = asyncio.get_running_loop().create_task(self._push(ws))

    def on_message(self, ws: Any, opcode: int, payload: bytes) -> None:  # noqa: D102
        pass  # the client only listens

    def on_close(self, ws: Any, code: int, reason: str) -> None:  # noqa: D102
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _newest(self) -> str | None:
        page = await self.store.query(LogQuery(order="desc", limit=1))
        return page.records[0].log_id if page.records else None

    async def _push(self, ws: Any) -> None:
        try:
            cursor = self.after or await self._newest()
            ws.send_text(orjson.dumps({"type": "ready", "after": cursor}))
            loop = asyncio.get_running_loop()
            last_sent = loop.time()
            while not ws.closed:
                page = await self.store.query(LogQuery(order="asc", limit=PAGE, cursor=cursor))
                if page.records:
                    cursor = page.records[-1].log_id
                    ws.send_text(orjson.dumps({"type": "logs", "rows": [row(r) for r in page.records]}))
                    last_sent = loop.time()
                    if not ws.is_writable:
                        await ws.drained()
                elif loop.time() - last_sent > KEEPALIVE:
                    ws.send_text(b'{"type":"keepalive"}')
                    last_sent = loop.time()
                if len(page.records) < PAGE:
                    await asyncio.sleep(self.interval)
        except (asyncio.CancelledError, ConnectionClosed):
            pass
        except Exception as exc:  # the store failed: say so and end this view only
            log.error("live log view stopped: %s", bug_report(exc))
            if not ws.closed:
                ws.close(1011, "the log store failed")
