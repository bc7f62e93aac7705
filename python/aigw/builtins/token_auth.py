"""The built-in `tokens` auth backend: gateway clients authenticated by `aigw.auth.TokenStore`.

Tokens are those of `aigw tokens create` (hashed in `<data_dir>/aigw.db`) and those from the
configuration (`tokens`, `gateways.<name>.tokens`, `AIGW_TOKENS`). `authenticate` is a
dictionary look-up and a constant-time hash comparison, no I/O, so it is offered without an
await too (`authenticate_now`). On its first call it starts the store's sync task on the
running loop (writes `last_used`, picks up tokens created or revoked by another process every
`sync_interval` seconds, off the loop) and tells
`subscribe_revocations` subscribers which tokens stopped being valid (the gateway closes their
open WebSocket connections with 1008); `close()` stops it.

Config (`[plugins.tokens]`, optional): `sync_interval` seconds (default 5).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Callable

from aigw import hookimpl
from aigw.auth import TokenStore
from aigw.builtins.plugin_config import SectionReader
from aigw.types import PluginContext, Principal

__all__ = ["TokenAuthBackend"]

log = logging.getLogger("aigw.auth")

TOKENS_DB = "aigw.db"


class TokenAuthBackend:
    """An `aigw.AuthBackend` over a `TokenStore`."""

    name = "tokens"

    def __init__(self, store: TokenStore, *, sync_interval: float = 5.0) -> None:
        self.store = store
        self.sync_interval = sync_interval
        self._sync_task: asyncio.Task[None] | None = None
        self._revocation_subscribers: list[Callable[[frozenset[str]], None]] = []

    def subscribe_revocations(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call `callback(token_ids)` on the event loop, within one sync interval, whenever
        tokens stop being valid (revoked here or with `aigw tokens revoke` in another process)."""
        self._revocation_subscribers.append(callback)

    @classmethod
    def from_context(cls, ctx: PluginContext) -> TokenAuthBackend:
        """Build from the plugin context: the store of `ctx.settings` (or `ctx.data_dir`)."""
        section = SectionReader("tokens", ctx.config, {"sync_interval"})
        interval = section.number("sync_interval", 5.0, minimum=0.1)
        if ctx.settings is not None and hasattr(ctx.settings, "db_path"):
            store = TokenStore.for_settings(ctx.settings)
        else:
            store = TokenStore(Path(ctx.data_dir) / TOKENS_DB)
        return cls(store, sync_interval=interval)

    async def authenticate(self, gateway: str, token: str | None) -> Principal | None:
        """The token's principal if it is active and opens `gateway`; None otherwise."""
        return self.authenticate_now(gateway, token)

    def authenticate_now(self, gateway: str, token: str | None) -> Principal | None:
        """`authenticate` without an await (`aigw.interfaces.AuthenticatesNow`): the store
        answers from memory. Called on the event loop."""
        if self._sync_task is None:
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())
        if not token:
            return None
        info = self.store.verify(token, gateway)
        if info is None:
            return None
        return Principal(id=info.id, name=info.name or None, gateway=info.gateway)

    async def _sync_forever(self) -> None:
        """Every `sync_interval`: sync the store off the loop, then tell the subscribers which
        tokens stopped being valid."""
        while True:
            await asyncio.sleep(self.sync_interval)
            try:
                await asyncio.to_thread(self.store.sync)
            except sqlite3.Error:
                log.exception("auth token sync failed; keeping the tokens already loaded")
            self._notify_revoked()

    def _notify_revoked(self) -> None:
        gone = self.store.take_revoked()
        if not gone:
            return
        ids = frozenset(gone)
        for callback in self._revocation_subscribers:
            try:
                callback(ids)
            except Exception:  # one subscriber's bug must not stop the others or the sync
                log.exception("a token revocation subscriber failed")

    async def close(self) -> None:
        """Stop syncing, write the last `last_used` times and close the database."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
            self._sync_task = None
        await asyncio.to_thread(self.store.close)


@hookimpl
def register_auth_backends(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `tokens` auth backend (hashed tokens in aigw.db plus tokens from config)."""
    register("tokens", TokenAuthBackend.from_context)
