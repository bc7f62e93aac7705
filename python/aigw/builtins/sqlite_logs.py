"""The built-in `sqlite` logger: request logs in `<data_dir>/logs.db`, written off the loop.

`log()` only queues (see log_batcher.py): with the default writer process it first encodes the
record's row (`aigw._codec.LogRowEncoder`, marshal bytes; the record itself is not kept;
`log_row` below is the reference and the fallback). One writer thread stores each batch of up
to `batch_size` rows in a single transaction, at most `flush_interval_ms` after the first row of
the batch arrived. `close()` writes everything accepted before it returns.

Config (`PluginContext.config`, every key optional):
    path               the database file (default `<data_dir>/logs.db`; relative to data_dir)
    batch_size         records per transaction (2000: a transaction rewrites the tail page of
                       every B-tree it touches into the WAL, so fewer, larger ones cost the
                       writer less per row; under light load `flush_interval_ms` decides)
    flush_interval_ms  longest wait to fill a batch (50)
    max_backlog        records waiting for the writer before new ones are dropped (100000)
    max_backlog_bytes  bodies waiting before new records are kept without bodies (256 MiB)
    max_body_bytes     a larger request or response body is not stored, only its size (10 MiB,
                       like Cloudflare's 10 MB per log)
    retention_days     delete logs older than this many days (0: keep forever, the default)
    max_logs           keep at most this many logs, deleting the oldest (0: no limit, default)
    writer             "process" (default): a child process inserts the rows, so SQLite's work
                       stays off the gateway's process; "thread": the writer thread does
                       (sqlite_log_process.py says why and what is kept)

Retention runs on the writer thread at start and then at most once a minute, in its own
transaction; `prune()` runs it on demand.

Bodies of 1 KiB or more are stored LZ4-packed when that shrinks them by an eighth (a streamed
answer's SSE ~25x; `log_bodies.body_encoding` says which are, rust/src/log_body.rs how): the
writer's SQLite and the kernel copy those bytes twice (WAL, then checkpoint), so packing costs
less CPU than it saves as well as disk. Read them with `aigw logs`, the logs API or
`SqliteLogReader` (`sqlite3` on the file shows packed bodies as LZ4 blocks).

Errors longer than 4096 characters are cut. A record whose log_id is already stored is
ignored (ids are UUIDv7, so this only happens on a bug) and counted as failed.
Reading: `SqliteLogReader` in sqlite_log_query.py, or `query()`/`get()` here from the loop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import marshal
import sqlite3
import time
from pathlib import Path

import orjson

from aigw import hookimpl
from aigw._codec import LogPayload, LogRowEncoder, pack_log_body
from aigw.builtins.log_batcher import (
    BATCHER_CONFIG_KEYS,
    BatcherStats,
    EncodedRows,
    LogBatcher,
    Pending,
    batcher_options,
    split_rows,
)
from aigw.builtins.plugin_config import SectionReader
from aigw.builtins.sqlite_log_process import WriterProcess, WriterProcessError
from aigw.builtins.sqlite_log_query import LogPage, LogPatch, LogQuery, SqliteLogReader, StoredLog
from aigw.builtins.sqlite_log_schema import REQUEST_PACKED, RESPONSE_PACKED, connect
from aigw.types import Attempt, LogRecord, PluginContext

log = logging.getLogger("aigw.logs")

LOGS_DB = "logs.db"
WRITERS = ("process", "thread")
MAX_ERROR_CHARS = 4096
PRUNE_EVERY = 60.0  # seconds between automatic retention passes
#: Rows per transaction by default (the batcher's 500 is the other loggers'): 2000 cut the
#: writer process's CPU per row 6-9 % under WebSocket load (benches/README.md, 2026-12-05
#: 15:28 UTC, `thread_split.py --sqlite batch_size=500` against the default).
BATCH_SIZE = 2000

LOG_COLUMNS = (
    "log_id, created_at, gateway, request_type, event_id, provider, model, endpoint, status, "
    "success, step, cache_status, stream, cancelled, duration_ms, ttfb_ms, tokens_in, tokens_out, "
    "metadata, error, request_content_type, response_content_type, request_body_size, "
    "response_body_size, attempts, cost, custom_cost, principal, feedback, score, session"
)

# Python's sqlite3 binds str, int and float directly but sends None (and bool) through its
# adapter protocol, ~0.3 µs each: a typical row has ~10 NULLs. So NULL travels as a sentinel
# bound directly and turned back into NULL by SQLite (NULLIF), which halves the row's cost
# (benches/micro/test_log_writer.py). The sentinels are values no column can hold: a lone NUL
# character for text, -(2**63 - 1) for numbers (sizes, counts, scores and ms are far smaller).
NULL_TEXT = "\x00"
NULL_NUMBER = -(2**63 - 1)
_TEXT_NULLABLE = frozenset(
    "event_id provider model endpoint metadata error request_content_type response_content_type "
    "attempts custom_cost principal session".split()
)
_NUMBER_NULLABLE = frozenset(
    "step ttfb_ms tokens_in tokens_out request_body_size response_body_size cost feedback score".split()
)


def _placeholder(column: str) -> str:
    if column in _TEXT_NULLABLE:
        return "NULLIF(?, char(0))"
    if column in _NUMBER_NULLABLE:
        return f"NULLIF(?, {NULL_NUMBER})"
    return "?"


_INSERT_LOG = "INSERT OR IGNORE INTO logs ({}) VALUES ({})".format(
    LOG_COLUMNS, ", ".join(_placeholder(c.strip()) for c in LOG_COLUMNS.split(","))
)
_INSERT_BODIES = (
    "INSERT OR IGNORE INTO log_bodies (log_id, request_body, response_body, body_encoding) VALUES (?, ?, ?, ?)"
)


def _json_text(value) -> str:  # type: ignore[no-untyped-def]
    return orjson.dumps(value).decode()


def log_row(item: Pending) -> tuple:
    """The `logs` row of a pending record, in LOG_COLUMNS order, NULLs as the sentinels.

    Plain str/int/float values only (what sqlite3 binds fastest, and what marshal carries to
    a writer process)."""
    r = item.record
    T, N = NULL_TEXT, NULL_NUMBER
    error = r.error
    if error is None:
        error = T
    elif len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS]
    q, p = item.request_body_size, item.response_body_size
    return (
        r.log_id,
        r.created_at,
        r.gateway,
        r.request_type,
        T if r.event_id is None else r.event_id,
        T if r.provider is None else r.provider,
        T if r.model is None else r.model,
        T if r.endpoint is None else r.endpoint,
        int(r.status),
        1 if r.success else 0,
        N if r.step is None else r.step,
        r.cache_status,
        1 if r.stream else 0,
        1 if r.cancelled else 0,
        r.duration_ms,
        N if r.ttfb_ms is None else r.ttfb_ms,
        N if r.tokens_in is None else r.tokens_in,
        N if r.tokens_out is None else r.tokens_out,
        _json_text(r.metadata) if r.metadata else T,
        error,
        T if r.request_content_type is None else r.request_content_type,
        T if r.response_content_type is None else r.response_content_type,
        N if q is None else q,
        N if p is None else p,
        _json_text(r.attempts) if r.attempts else T,  # orjson writes the dataclasses' fields in order
        N if r.cost is None else r.cost,
        _json_text(list(r.custom_cost)) if r.custom_cost is not None else T,
        T if r.principal is None else r.principal,
        N if r.feedback is None else r.feedback,
        N if r.score is None else r.score,
        _json_text(r.session) if r.session is not None else T,
    )


def rows_of(batch: list[Pending]) -> tuple[list[tuple], list[tuple], int]:
    """(logs rows, log_bodies rows, how many records could not be turned into a row)."""
    return split_rows(batch, log_row, "sqlite")


def packed_bodies(bodies: list[tuple]) -> list[tuple]:
    """`log_bodies` rows (log_id, request body, response body) as the store keeps them: each
    body packed when that pays (`_codec.pack_log_body`, as the Rust store packs), with the
    row's `body_encoding` (REQUEST_PACKED | RESPONSE_PACKED)."""
    out = []
    for log_id, request, response in bodies:
        encoding = 0
        if type(request) is bytes and (packed := pack_log_body(request)) is not None:
            request, encoding = packed, REQUEST_PACKED
        if type(response) is bytes and (packed := pack_log_body(response)) is not None:
            response, encoding = packed, encoding | RESPONSE_PACKED
        out.append((log_id, request, response, encoding))
    return out


def store_rows(conn: sqlite3.Connection, rows: list[tuple], bodies: list[tuple]) -> int:
    """Insert one batch in one transaction, its bodies packed when that pays; returns how many
    rows had a log_id already stored (ignored, logged as an error)."""
    conn.execute("BEGIN")
    try:
        stored = conn.executemany(_INSERT_LOG, rows).rowcount
        if bodies:
            conn.executemany(_INSERT_BODIES, packed_bodies(bodies))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    duplicates = len(rows) - stored
    if duplicates:
        log.error("sqlite logger: %d records had a log_id already stored; ignored", duplicates)
    return duplicates


class SqliteLogger:
    """A Logger (interfaces.Logger) storing records in SQLite; see the module docstring."""

    name = "sqlite"

    def __init__(
        self,
        path: Path | str,
        *,
        retention_days: float = 0,
        max_logs: int = 0,
        writer: str = "process",
        batch_size: int = BATCH_SIZE,
        **batcher_options: float,
    ) -> None:
        if writer not in WRITERS:
            raise ValueError(f"sqlite logger: writer must be one of {', '.join(WRITERS)}, not {writer!r}")
        self.path = Path(path)
        self.writer = writer
        self._process = WriterProcess(self.path, retention_days=retention_days, max_logs=max_logs) if writer == "process" else None
        self.retention_days = retention_days
        self.max_logs = max_logs
        self._last_prune = time.monotonic()
        self._conn: sqlite3.Connection | None = None
        # For the child, rows are encoded when logged (Rust, one call; the record is freed at
        # once) and reach it as marshal bytes. The thread writer binds the records' rows itself
        # (a marshal round trip in the gateway's process would only add work).
        backlog = None
        if writer == "process":
            fields = [f.name for f in dataclasses.fields(Attempt)]
            backlog = EncodedRows(LogRowEncoder(LogRecord, Attempt, fields, MAX_ERROR_CHARS), log_row)
        self._batcher = LogBatcher(self.name, self._write_batch, backlog=backlog, batch_size=batch_size, **batcher_options)  # type: ignore[arg-type]
        if backlog is not None:  # the batcher's native submit, called without a frame of ours
            self.log = self._batcher.submit  # type: ignore[method-assign]
        self._reader: SqliteLogReader | None = None

    @classmethod
    def from_context(cls, ctx: PluginContext) -> SqliteLogger:
        """The factory the plugin registers: reads ctx.config (keys in the module docstring)."""
        known = {"path", "retention_days", "max_logs", "writer"} | BATCHER_CONFIG_KEYS
        section = SectionReader(ctx.name, ctx.config, known)
        path = Path(ctx.data_dir) / (section.string("path", LOGS_DB) or LOGS_DB)
        return cls(
            path,
            retention_days=section.number("retention_days", 0),
            max_logs=section.number("max_logs", 0, integer=True),
            writer=section.string("writer", "process", choices=WRITERS) or "process",
            **batcher_options(section, batch_size=BATCH_SIZE),
        )

    @property
    def stats(self) -> BatcherStats:
        """Counters: accepted, written, failed, dropped, bodies_dropped, batches."""
        return self._batcher.stats

    async def start(self) -> None:
        """Create or migrate the store (off the loop), then start the writer thread."""
        if self._conn is None:
            # Created, migrated and pruned here in both modes, so a bad store fails start-up
            # with the same ConfigError whichever process writes.
            self._conn = await asyncio.to_thread(connect, self.path, create=True)
            await asyncio.to_thread(self._prune_now, self._conn)
        # With the writer process this connection stays open, idle (the fallback's, and closing
        # the last connection of a WAL database while another worker opens it is a race).
        self._batcher.start()

    def log(self, record: LogRecord) -> None:
        """Queue `record` (ownership passes to the logger). Never blocks, never raises on load."""
        self._batcher.submit(record)

    async def flush(self) -> None:
        """Return once every record logged before the call is stored."""
        await self._batcher.flush()

    async def close(self) -> None:
        """Store every record accepted so far, stop the writer, close the database."""
        if self._batcher.backlog and self._process is None and self._conn is None:
            # logged but never started: open the store to write them
            self._conn = await asyncio.to_thread(connect, self.path, create=True)
        await self._batcher.close()
        if self._process is not None:
            await asyncio.to_thread(self._process.close)
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await asyncio.to_thread(reader.close)
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.to_thread(conn.close)

    async def prune(self) -> int:
        """Apply retention_days/max_logs now (on a connection of its own, off the loop);
        returns how many logs were deleted."""

        def run() -> int:
            conn = connect(self.path, create=True)
            try:
                return self._prune_now(conn)
            finally:
                conn.close()

        return await asyncio.to_thread(run)

    def _prune_now(self, conn: sqlite3.Connection) -> int:
        older_than = time.time() - self.retention_days * 86400 if self.retention_days else None
        return prune_store(conn, older_than=older_than, keep_newest=self.max_logs or None)

    # ---- reading from the loop (the logs HTTP API) ------------------------------------------

    def reader(self) -> SqliteLogReader:
        """A reader on the same file (one per logger, created on first use)."""
        if self._reader is None:
            self._reader = SqliteLogReader(self.path)
        return self._reader

    async def query(self, query: LogQuery) -> LogPage:
        """SqliteLogReader.query, run off the loop."""
        return await asyncio.to_thread(self.reader().query, query)

    async def get(self, log_id: str) -> StoredLog | None:
        """SqliteLogReader.get (with bodies), run off the loop."""
        return await asyncio.to_thread(self.reader().get, log_id)

    async def patch(self, log_id: str, changes: LogPatch) -> StoredLog | None:
        """SqliteLogReader.patch, run off the loop (a log still waiting for the writer is
        flushed first, so a PATCH right after the request finds it)."""
        await self.flush()
        return await asyncio.to_thread(self.reader().patch, log_id, changes)

    async def delete(self, query: LogQuery) -> int:
        """SqliteLogReader.delete, run off the loop, after the backlog is written."""
        await self.flush()
        return await asyncio.to_thread(self.reader().delete, query)

    # ---- writer thread ---------------------------------------------------------------------

    def _write_batch(self, chunk: LogPayload | list[Pending]) -> int:
        """Store one chunk: encoded rows (`writer = "process"`) or records (`"thread"`)."""
        if self._process is not None:
            assert not isinstance(chunk, list)
            try:
                return self._process.write(chunk)  # the child runs retention itself
            except WriterProcessError as exc:  # no child can run here: write from this thread
                log.warning("sqlite logger: %s; writing from the gateway's process instead", exc)
                self._process = None
                if self._conn is None:
                    self._conn = connect(self.path, create=True)
        conn = self._conn
        if conn is None:
            raise RuntimeError("sqlite logger is not started")
        bad = 0
        if isinstance(chunk, list):
            rows, bodies, bad = rows_of(chunk)
        else:  # the child could not start: its rows, stored from here
            rows, bodies = marshal.loads(chunk)
        duplicates = store_rows(conn, rows, bodies)
        if (self.retention_days or self.max_logs) and time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self._last_prune = time.monotonic()
            try:
                self._prune_now(conn)
            except sqlite3.Error:  # the batch is stored; retention tries again next time
                log.exception("sqlite logger: retention pass failed")
        return bad + duplicates


def prune_store(conn: sqlite3.Connection, *, older_than: float | None, keep_newest: int | None) -> int:
    """Delete logs (and their bodies) created before `older_than` (unix seconds) and all but
    the newest `keep_newest`, in one transaction; returns how many logs were deleted."""
    if older_than is None and keep_newest is None:
        return 0
    deleted = 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        if older_than is not None:
            conn.execute(
                "DELETE FROM log_bodies WHERE log_id IN (SELECT log_id FROM logs WHERE created_at < ?)",
                (older_than,),
            )
            deleted += conn.execute("DELETE FROM logs WHERE created_at < ?", (older_than,)).rowcount
        if keep_newest is not None:
            row = conn.execute(
                "SELECT log_id FROM logs ORDER BY log_id DESC LIMIT 1 OFFSET ?", (keep_newest,)
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM log_bodies WHERE log_id <= ?", row)
                deleted += conn.execute("DELETE FROM logs WHERE log_id <= ?", row).rowcount
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return deleted


@hookimpl
def register_loggers(register) -> None:  # type: ignore[no-untyped-def]
    """Offer the `sqlite` logger (the default log store)."""
    register("sqlite", SqliteLogger.from_context)
