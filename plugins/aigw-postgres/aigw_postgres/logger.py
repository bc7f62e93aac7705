"""The `postgres` logger and log store: request logs in PostgreSQL, written off the request path.

Writing. `log()` only queues the record in the shared `LogBatcher` (aigw.builtins.log_batcher:
never blocks, bounded backlog). One writer thread, with an event loop and one asyncpg
connection of its own, stores each batch with ONE multi-row statement per table
(``INSERT ... SELECT * FROM unnest($1::text[], ...)``: one round trip for up to `batch_size`
rows) in one transaction. ``ON CONFLICT (log_id) DO NOTHING`` makes a batch idempotent, so a
batch retried after a lost acknowledgement is still stored exactly once.

PostgreSQL down or unreachable: the writer keeps the batch and retries it (pause 100 ms,
doubling up to 5 s) until it is stored; requests are not affected. Records arriving meanwhile
wait in the backlog, bounded by `max_backlog` records and `max_backlog_bytes` of bodies: past
the bytes bound records are kept without bodies, past the record bound new records are dropped
(counted in `stats.dropped`, with a warning at most every 10 s). A record's data that
PostgreSQL refuses (not an outage) fails its batch, which is counted in `stats.failed` and
logged; the writer carries on.

Stopping (`close`): every accepted record is written before it returns. If PostgreSQL is still
unreachable, the writer keeps trying for `close_timeout_ms` (default 10 s) and then gives up,
logging how many records were lost: the only case where accepted records are lost.

Reading (`query`, `get`: the `aigw.LogStore` protocol) and editing (`patch`, `delete`: the
`aigw.interfaces.LogEditor` capability, the logs API's PATCH and DELETE) use a small connection
pool on the caller's loop, opened on first use, so `aigw logs` can read without starting the
writer.

Config (`[plugins.postgres]`):
    dsn                postgresql://user@host:5432/db (required; env:/file: like every secret)
    batch_size, flush_interval_ms, max_backlog, max_backlog_bytes, max_body_bytes
                       as the sqlite logger (500, 50, 100000, 256 MiB, 10 MiB)
    close_timeout_ms   how long stopping waits for an unreachable PostgreSQL (10000)
    connect_timeout_ms connect timeout of each attempt (5000)
    retention_days     delete logs older than this, at the first write and then every minute (0: keep)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

import asyncpg
import orjson

from aigw.builtins.log_batcher import BatcherStats, LogBatcher, Pending, batcher_options, split_rows
from aigw.log_query import LogPage, LogPatch, LogQuery, StoredLog
from aigw.logrecords import attempts_to_list
from aigw.secret import Secret
from aigw.types import LogRecord, PluginContext
from aigw_postgres import query as pg_query
from aigw_postgres.schema import migrate
from aigw_postgres.section import read_section

log = logging.getLogger("aigw.logs")

MAX_ERROR_CHARS = 4096
MAX_PAUSE = 5.0  # seconds between attempts while PostgreSQL is unreachable
PRUNE_EVERY = 60.0
_WARN_EVERY = 10.0

#: Errors that mean "PostgreSQL is unreachable or going away": retry the batch.
OUTAGE_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
)

_TYPES = (
    "text", "float8", "text", "text", "text", "text", "text", "text", "int4", "bool", "int4", "text", "bool", "bool",
    "float8", "float8", "int8", "int8", "text", "text", "text", "text", "int8", "int8", "text",
    "float8", "text", "text", "int4", "int4", "text",
)  # fmt: skip
_COLS = ", ".join(pg_query.COLUMNS)
_INSERT_LOGS = (
    f"INSERT INTO aigw_logs ({_COLS}) SELECT "
    + ", ".join(f"u.c{i}::jsonb" if c in pg_query.JSON_COLUMNS else f"u.c{i}" for i, c in enumerate(pg_query.COLUMNS))
    + " FROM unnest("
    + ", ".join(f"${i + 1}::{t}[]" for i, t in enumerate(_TYPES))
    + ") AS u("
    + ", ".join(f"c{i}" for i in range(len(_TYPES)))
    + ") ON CONFLICT (log_id) DO NOTHING"
)
_INSERT_BODIES = (
    "INSERT INTO aigw_log_bodies (log_id, request_body, response_body) "
    "SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) ON CONFLICT (log_id) DO NOTHING"
)


def _row(item: Pending) -> tuple:
    r = item.record
    error = r.error if r.error is None or len(r.error) <= MAX_ERROR_CHARS else r.error[:MAX_ERROR_CHARS]
    return (
        r.log_id, float(r.created_at), r.gateway, r.request_type, r.event_id, r.provider, r.model, r.endpoint,
        int(r.status), bool(r.success), r.step, r.cache_status, bool(r.stream), bool(r.cancelled),
        float(r.duration_ms), None if r.ttfb_ms is None else float(r.ttfb_ms), r.tokens_in, r.tokens_out,
        orjson.dumps(r.metadata).decode() if r.metadata else None, error, r.request_content_type,
        r.response_content_type, item.request_body_size, item.response_body_size,
        orjson.dumps(attempts_to_list(r.attempts)).decode() if r.attempts else None,
        None if r.cost is None else float(r.cost),
        orjson.dumps(list(r.custom_cost)).decode() if r.custom_cost is not None else None,
        r.principal, r.feedback, r.score,
        orjson.dumps(r.session).decode() if r.session is not None else None,
    )  # fmt: skip


class PostgresLogger:
    """A Logger and LogStore in PostgreSQL (see the module docstring)."""

    name = "postgres"

    def __init__(
        self,
        dsn: Secret,
        *,
        close_timeout: float = 10.0,
        connect_timeout: float = 5.0,
        retention_days: float = 0,
        **batcher_options: Any,
    ) -> None:
        self._dsn = dsn
        self.close_timeout = close_timeout
        self.connect_timeout = connect_timeout
        self.retention_days = retention_days
        self._batcher = LogBatcher(self.name, self._write_batch, **batcher_options)
        # writer thread only:
        self._wloop: asyncio.AbstractEventLoop | None = None
        self._wconn: Any = None
        self._last_prune = -PRUNE_EVERY
        self._last_outage_warning = -_WARN_EVERY
        # shared with the thread: stop retrying after this monotonic time (set by close)
        self._give_up_at: float | None = None
        self._stop_pause = threading.Event()
        self._pool: Any = None  # readers, on the caller's loop

    @classmethod
    def from_context(cls, ctx: PluginContext) -> PostgresLogger:
        """The factory the plugin registers (keys in the module docstring)."""
        section, dsn = read_section(ctx)
        return cls(
            dsn,
            close_timeout=section.number("close_timeout_ms", 10_000) / 1000,
            connect_timeout=section.number("connect_timeout_ms", 5000, minimum=1) / 1000,
            retention_days=section.number("retention_days", 0),
            **batcher_options(section),
        )

    @property
    def stats(self) -> BatcherStats:
        """Counters: accepted, written, failed, dropped, bodies_dropped, batches."""
        return self._batcher.stats

    @property
    def backlog(self) -> int:
        """Records accepted and not yet written."""
        return self._batcher.backlog

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Migrate the schema if PostgreSQL answers (an outage only warns: the writer migrates
        when it first connects), then start the writer thread. A schema newer than this plugin
        raises ConfigError."""
        try:
            conn = await asyncpg.connect(self._dsn.reveal(), timeout=self.connect_timeout)
        except OUTAGE_ERRORS as exc:
            log.warning("postgres logger: PostgreSQL unreachable at start (%s); logs wait in the backlog", type(exc).__name__)
        else:
            try:
                await migrate(conn)
            finally:
                await conn.close()
        self._batcher.start()

    def log(self, record: LogRecord) -> None:
        """Queue `record` (ownership passes to the logger). Never blocks, never raises on load."""
        self._batcher.submit(record)

    async def flush(self) -> None:
        """Return once every record logged before the call is written (or failed)."""
        await self._batcher.flush()

    async def close(self) -> None:
        """Write every accepted record (waiting up to `close_timeout` for an unreachable
        PostgreSQL), stop the writer, close the connections."""
        self._give_up_at = time.monotonic() + self.close_timeout
        self._stop_pause.set()
        await self._batcher.close()
        if self._wloop is not None:
            await asyncio.to_thread(self._close_writer)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    aclose = close

    def _close_writer(self) -> None:
        loop, self._wloop = self._wloop, None
        assert loop is not None
        if self._wconn is not None:
            try:
                loop.run_until_complete(asyncio.wait_for(self._wconn.close(), 2))
            except Exception:
                self._wconn.terminate()
            self._wconn = None
        loop.close()

    # ---- reading (LogStore) ----------------------------------------------------------------

    async def _reader(self) -> Any:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn.reveal(), min_size=0, max_size=2, timeout=self.connect_timeout
            )
        return self._pool

    async def query(self, query: LogQuery) -> LogPage:
        """The page of logs matching `query`, without bodies (ValueError on a bad query)."""
        pool = await self._reader()
        async with pool.acquire() as conn:
            return await pg_query.query(conn, query)

    async def get(self, log_id: str) -> StoredLog | None:
        """One log with its bodies, or None."""
        pool = await self._reader()
        async with pool.acquire() as conn:
            return await pg_query.get(conn, log_id)

    async def patch(self, log_id: str, changes: LogPatch) -> StoredLog | None:
        """Set feedback, score and/or metadata of one log (the logs API's PATCH); the log
        without bodies, or None when no log has this id. ValueError on a bad change."""
        pool = await self._reader()
        async with pool.acquire() as conn:
            return await pg_query.patch(conn, log_id, changes)

    async def delete(self, query: LogQuery) -> int:
        """Delete the logs matching `query`'s filters (order, limit, cursor ignored) and their
        bodies, in one transaction; returns how many logs were deleted."""
        pool = await self._reader()
        async with pool.acquire() as conn:
            return await pg_query.delete(conn, query)

    # ---- writer thread ---------------------------------------------------------------------

    def _write_batch(self, batch: list[Pending]) -> int:
        rows, bodies, bad = split_rows(batch, _row, "postgres")
        if not rows:
            return bad
        columns = [list(col) for col in zip(*rows, strict=True)]
        body_columns = [list(col) for col in zip(*bodies, strict=True)] if bodies else None
        if self._wloop is None:
            self._wloop = asyncio.new_event_loop()
        pause = 0.1
        while True:
            try:
                self._wloop.run_until_complete(self._store(columns, body_columns))
                return bad
            except OUTAGE_ERRORS as exc:
                self._drop_connection()
                give_up = self._give_up_at
                if give_up is not None and time.monotonic() >= give_up:
                    log.error("postgres logger: PostgreSQL still unreachable at stop; %d records lost", len(rows))
                    raise
                now = time.monotonic()
                if now - self._last_outage_warning >= _WARN_EVERY:
                    self._last_outage_warning = now
                    log.warning(
                        "postgres logger: PostgreSQL unreachable (%s); %d records wait to be written, retrying",
                        type(exc).__name__, len(rows) + self._batcher.backlog,
                    )  # fmt: skip
                self._stop_pause.wait(pause if give_up is None else min(pause, max(0.0, give_up - now)))
                if give_up is not None:
                    self._stop_pause.clear()  # close() cut one long pause short; pace the rest
                pause = min(MAX_PAUSE, pause * 2)

    async def _store(self, columns: list[list[Any]], body_columns: list[list[Any]] | None) -> None:
        conn = self._wconn
        if conn is None or conn.is_closed():
            conn = await asyncpg.connect(self._dsn.reveal(), timeout=self.connect_timeout)
            try:
                await migrate(conn)
            except BaseException:
                await conn.close()
                raise
            self._wconn = conn
        async with conn.transaction():
            await conn.execute(_INSERT_LOGS, *columns)
            if body_columns is not None:
                await conn.execute(_INSERT_BODIES, *body_columns)
        if self.retention_days and time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self._last_prune = time.monotonic()
            older = time.time() - self.retention_days * 86400
            async with conn.transaction():
                await conn.execute(
                    "DELETE FROM aigw_log_bodies WHERE log_id IN (SELECT log_id FROM aigw_logs WHERE created_at < $1)", older
                )
                await conn.execute("DELETE FROM aigw_logs WHERE created_at < $1", older)

    def _drop_connection(self) -> None:
        conn, self._wconn = self._wconn, None
        if conn is not None:
            conn.terminate()
