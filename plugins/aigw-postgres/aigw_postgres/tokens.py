"""Auth tokens in PostgreSQL, shared by every gateway process and machine: the `postgres` auth
backend and its token store. Choose it explicitly::

    [auth]
    backends = ["postgres"]          # or ["postgres", "tokens"]: also config tokens / aigw.db
    [plugins.postgres]
    dsn = "env:AIGW_POSTGRES_DSN"
    token_sync_interval = 5          # seconds; how fast changes reach every process

Tokens are those of the built-in store (aigw.auth.token_store: `aigw_` + 32 random bytes, kept
as SHA-256 with a 12-hex-digit display id, never the token), in the table `aigw_auth_tokens`.
`aigw tokens create | list | revoke` manage them when `postgres` is the first chosen auth
backend that stores tokens.

Verifying a request does no I/O: each process holds the active tokens in memory and compares
hashes in constant time. Every `token_sync_interval` seconds a task on the gateway's loop
writes the batched `last_used` times and reads one counter (`aigw_auth_tokens_version`,
bumped in the same transaction as every create and revoke); when it moved, the active tokens
are reloaded, and the ids that left are reported to `subscribe_revocations` subscribers (the
gateway closes their WebSocket connections with 1008). So a token created or revoked on one
machine is accepted or refused, and its connections closed, on every process within one
interval.

PostgreSQL unreachable: at start-up the backend fails (start-up stops naming the plugin: a
gateway that cannot know its tokens should not serve); later, each sync logs a warning at most
every 10 s and the tokens already loaded stay valid until PostgreSQL answers again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from typing import Any, Callable

import asyncpg

from aigw.auth import TokenInfo, TokenStoreError, generate_token, hash_token
from aigw.auth.token_store import MAX_TOKEN_LENGTH
from aigw.secret import Secret
from aigw.types import PluginContext, Principal
from aigw_postgres.schema import TOKENS_COMPONENT, migrate
from aigw_postgres.section import read_section

__all__ = ["PostgresTokenAuth", "PostgresTokenStore"]

log = logging.getLogger("aigw.auth")

_ID_BYTES = 6  # as aigw.auth.token_store: 12 hex digits
_WARN_EVERY = 10.0
_COLUMNS = "id, sha256, name, gateway, created_at, last_used, revoked_at"


def _id_of(digest: bytes) -> str:
    return digest[:_ID_BYTES].hex()


def _info(row: Any) -> TokenInfo:
    return TokenInfo(row["id"], row["name"], row["gateway"], "db", row["created_at"], row["last_used"], row["revoked_at"] is not None)


class PostgresTokenStore:
    """Creating, listing, revoking and loading tokens in PostgreSQL. Uses one connection,
    opened (and the schema migrated) on first use, on the loop of the caller."""

    def __init__(self, dsn: Secret, *, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self.connect_timeout = connect_timeout
        self._conn: Any = None

    async def _db(self) -> Any:
        if self._conn is None or self._conn.is_closed():
            conn = await asyncpg.connect(self._dsn.reveal(), timeout=self.connect_timeout)
            try:
                await migrate(conn, TOKENS_COMPONENT)
            except BaseException:
                await conn.close()
                raise
            self._conn = conn
        return self._conn

    async def create(self, name: str = "", gateway: str | None = None) -> tuple[str, TokenInfo]:
        """Create, store (hashed) and return (token, info); the token is not kept anywhere."""
        conn = await self._db()
        for _ in range(8):  # a 48-bit id collision is astronomically rare; retry anyway
            token = generate_token()
            digest = hash_token(token)
            info = TokenInfo(_id_of(digest), name, gateway, "db", created_at=time.time())
            try:
                async with conn.transaction():
                    await conn.execute(
                        "INSERT INTO aigw_auth_tokens (id, sha256, name, gateway, created_at) VALUES ($1, $2, $3, $4, $5)",
                        info.id, digest, name, gateway, info.created_at,
                    )  # fmt: skip
                    await conn.execute("UPDATE aigw_auth_tokens_version SET version = version + 1")
            except asyncpg.UniqueViolationError:
                continue
            return token, info
        raise TokenStoreError("could not allocate a unique token id")  # pragma: no cover

    async def list(self) -> list[TokenInfo]:
        """Every token, revoked ones included, oldest first."""
        conn = await self._db()
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM aigw_auth_tokens ORDER BY created_at, id")
        return [_info(r) for r in rows]

    async def revoke(self, id_or_token: str) -> TokenInfo:
        """Revoke a token given its id or the token itself; returns its updated info. Raises
        TokenStoreError for an unknown id or an already revoked token."""
        is_id = re.fullmatch(r"[0-9a-f]{%d}" % (2 * _ID_BYTES), id_or_token) is not None
        token_id = id_or_token if is_id else _id_of(hash_token(id_or_token))
        conn = await self._db()
        async with conn.transaction():
            row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM aigw_auth_tokens WHERE id = $1 FOR UPDATE", token_id)
            if row is None:
                raise TokenStoreError(f"no token with id {token_id}")
            if row["revoked_at"] is not None:
                raise TokenStoreError(f"token {token_id} is already revoked")
            row = await conn.fetchrow(
                f"UPDATE aigw_auth_tokens SET revoked_at = $2 WHERE id = $1 RETURNING {_COLUMNS}", token_id, time.time()
            )
            await conn.execute("UPDATE aigw_auth_tokens_version SET version = version + 1")
        return _info(row)

    async def version(self) -> int:
        """The change counter (bumped by every create and revoke)."""
        conn = await self._db()
        return await conn.fetchval("SELECT version FROM aigw_auth_tokens_version")

    async def active(self) -> tuple[int, dict[str, tuple[bytes, TokenInfo]]]:
        """(version, {id: (sha256, info)} of the active tokens), read in one snapshot."""
        conn = await self._db()
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            version = await conn.fetchval("SELECT version FROM aigw_auth_tokens_version")
            rows = await conn.fetch(f"SELECT {_COLUMNS} FROM aigw_auth_tokens WHERE revoked_at IS NULL")
        return version, {r["id"]: (bytes(r["sha256"]), _info(r)) for r in rows}

    async def record_use(self, used: dict[str, float]) -> None:
        """Write `last_used` times ({id: unix seconds}); never moves one backwards."""
        if not used:
            return
        conn = await self._db()
        await conn.execute(
            "UPDATE aigw_auth_tokens AS t SET last_used = GREATEST(coalesce(t.last_used, 0), u.at) "
            "FROM unnest($1::text[], $2::float8[]) AS u(id, at) WHERE t.id = u.id",
            list(used), list(used.values()),
        )  # fmt: skip

    async def close(self) -> None:
        """Close the connection (closing twice is harmless)."""
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            await conn.close()

    aclose = close


class PostgresTokenAuth:
    """An `aigw.AuthBackend` (and `RevocationNotifier`) over `PostgresTokenStore`; see the
    module docstring."""

    name = "postgres"

    def __init__(self, store: PostgresTokenStore, *, sync_interval: float = 5.0) -> None:
        #: The token store (`aigw tokens` and `Gateway.create_token` manage tokens through it).
        self.store = store
        self.sync_interval = sync_interval
        self._active: dict[str, tuple[bytes, TokenInfo]] = {}  # replaced whole, never mutated
        self._version = -1
        self._used: dict[str, float] = {}
        self._subscribers: list[Callable[[frozenset[str]], None]] = []
        self._sync_task: asyncio.Task[None] | None = None
        self._last_warning = -_WARN_EVERY

    @classmethod
    def from_context(cls, ctx: PluginContext) -> PostgresTokenAuth:
        """The factory the plugin registers: `dsn`, `connect_timeout_ms`, `token_sync_interval`
        of `[plugins.postgres]`. Connects only at `start`."""
        section, dsn = read_section(ctx)
        store = PostgresTokenStore(dsn, connect_timeout=section.number("connect_timeout_ms", 5000, minimum=1) / 1000)
        return cls(store, sync_interval=section.number("token_sync_interval", 5.0, minimum=0.05))

    async def start(self) -> None:
        """Load the active tokens (raises when PostgreSQL cannot be reached) and start syncing."""
        self._version, self._active = await self.store.active()
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_forever())

    def subscribe_revocations(self, callback: Callable[[frozenset[str]], None]) -> None:
        """Call `callback(token_ids)` on the event loop, within one sync interval, whenever
        tokens stop being valid (revoked by any process or machine)."""
        self._subscribers.append(callback)

    async def authenticate(self, gateway: str, token: str | None) -> Principal | None:
        """The token's principal if it is active and opens `gateway`; None otherwise. No I/O."""
        return self.authenticate_now(gateway, token)

    def authenticate_now(self, gateway: str, token: str | None) -> Principal | None:
        """`authenticate` without an await (`aigw.interfaces.AuthenticatesNow`): the tokens
        loaded at `start` and kept by the sync answer from memory."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(token)
        entry = self._active.get(_id_of(digest))
        if entry is None or not hmac.compare_digest(entry[0], digest) or not entry[1].opens(gateway):
            return None
        info = entry[1]
        self._used[info.id] = time.time()
        return Principal(id=info.id, name=info.name or None, gateway=info.gateway)

    async def sync(self) -> None:
        """Write `last_used`, then reload the tokens if any changed and report the ids that
        stopped being valid. Raises what PostgreSQL raises (the caller retries next interval)."""
        used, self._used = self._used, {}
        try:
            await self.store.record_use(used)
        except BaseException:
            self._used = {**used, **self._used}
            raise
        if await self.store.version() == self._version:
            return
        version, active = await self.store.active()
        gone = frozenset(self._active.keys() - active.keys())
        self._version, self._active = version, active
        if gone:
            for callback in self._subscribers:
                try:
                    callback(gone)
                except Exception:  # one subscriber's bug must not stop the others or the sync
                    log.exception("a token revocation subscriber failed")

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self.sync_interval)
            try:
                await self.sync()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                await self.store.close()  # reconnect next time
                now = time.monotonic()
                if now - self._last_warning >= _WARN_EVERY:
                    self._last_warning = now
                    log.warning("postgres tokens: sync failed (%s); keeping the tokens already loaded", type(exc).__name__)

    async def aclose(self) -> None:
        """Stop syncing, write the last `last_used` times (if PostgreSQL answers), disconnect."""
        if self._sync_task is not None:
            self._sync_task.cancel()
            try:
                await self._sync_task
            except asyncio.CancelledError:
                pass
            self._sync_task = None
        try:
            await asyncio.wait_for(self.store.record_use(self._used), 2)
        except Exception:
            log.warning("postgres tokens: could not write the last use times at stop")
        await self.store.close()
