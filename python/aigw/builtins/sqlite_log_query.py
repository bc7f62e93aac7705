"""Reading the SQLite log store: filtered, ordered, paged listings and single logs with bodies.

Used by `aigw logs` (synchronously) and by the logs HTTP API (through SqliteLogger.query/get,
which run these calls in a thread). Listings never load bodies; `get()` does.

Paging is by keyset: a page's `next_cursor` is its last log_id, and the next page continues
strictly after it in the chosen order. log_ids are UUIDv7, so log_id order is time order.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

import orjson

from aigw._codec import unpack_log_body
from aigw.builtins.sqlite_log_schema import REQUEST_PACKED, RESPONSE_PACKED, connect
from aigw.logrecords import attempts_from_list
from aigw.log_query import (  # noqa: F401  (re-exported: the query types were defined here)
    MAX_CURSOR_CHARS,
    MAX_LIMIT,
    LogPage,
    LogPatch,
    LogQuery,
    MetaValue,
    StoredLog,
    meta_text,
    validate_patch,
    validate_query,
)

log = logging.getLogger("aigw.logs")

_COLUMNS = (
    "log_id, created_at, gateway, request_type, event_id, provider, model, endpoint, status, "
    "success, step, cache_status, stream, cancelled, duration_ms, ttfb_ms, tokens_in, tokens_out, "
    "metadata, error, request_content_type, response_content_type, request_body_size, "
    "response_body_size, attempts, cost, custom_cost, principal, feedback, score, session"
)
# Stored metadata values rendered as text, so CLI strings compare with numbers and booleans.
_META_MATCH = (
    "EXISTS (SELECT 1 FROM json_each(logs.metadata) AS m WHERE m.key = ? AND "
    "(CASE m.type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
    "ELSE CAST(m.value AS TEXT) END) = ?)"
)


def _where(q: LogQuery) -> tuple[str, list[object]]:
    conds: list[str] = []
    params: list[object] = []
    for column in ("gateway", "provider", "model", "request_type", "status", "event_id"):
        value = getattr(q, column)
        if value is not None:
            conds.append(f"{column} = ?")
            params.append(value)
    # Literal constants, so SQLite can use the partial indexes.
    if q.success is not None:
        conds.append("success = 1" if q.success else "success = 0")
    if q.cached is not None:
        conds.append("cache_status = 'HIT'" if q.cached else "cache_status != 'HIT'")
    if q.since is not None:
        conds.append("created_at >= ?")
        params.append(q.since)
    if q.until is not None:
        conds.append("created_at < ?")
        params.append(q.until)
    for key, value in q.metadata.items():
        conds.append(_META_MATCH)
        params += [key, meta_text(value)]
    for column, op, value in (
        ("duration_ms", ">=", q.min_duration), ("duration_ms", "<=", q.max_duration),
        ("cost", ">=", q.min_cost), ("cost", "<=", q.max_cost), ("feedback", "=", q.feedback),
    ):  # fmt: skip
        if value is not None:
            conds.append(f"{column} {op} ?")
            params.append(value)
    if q.cursor is not None:
        conds.append("log_id < ?" if q.order == "desc" else "log_id > ?")
        params.append(q.cursor)
    return (" WHERE " + " AND ".join(conds)) if conds else "", params

def _without_paging(q: LogQuery) -> LogQuery:
    return LogQuery(**{name: getattr(q, name) for name in LogQuery.__dataclass_fields__ if name != "cursor"})


def _unpacked(stored: bytes | None, packed: int, log_id: str) -> bytes | None:
    """A stored body as it was collected: unpacked when its `body_encoding` bit is set. A
    packed body that is corrupt (a damaged file) reads as not kept, with a warning."""
    if not packed or stored is None:
        return stored
    try:
        return unpack_log_body(stored)
    except ValueError as exc:
        log.warning("log %s: a stored body cannot be read: %s", log_id, exc)
        return None


def _stored(row: tuple, bodies: tuple = (None, None)) -> StoredLog:
    (log_id, created_at, gateway, request_type, event_id, provider, model, endpoint, status,
     success, step, cache_status, stream, cancelled, duration_ms, ttfb_ms, tokens_in, tokens_out,
     metadata, error, req_ct, resp_ct, req_size, resp_size, attempts,
     cost, custom_cost, principal, feedback, score, session) = row  # fmt: skip
    return StoredLog(
        log_id=log_id,
        created_at=created_at,
        gateway=gateway,
        request_type=request_type,
        event_id=event_id,
        provider=provider,
        model=model,
        endpoint=endpoint,
        status=status,
        success=bool(success),
        step=step,
        cache_status=cache_status,
        stream=bool(stream),
        cancelled=bool(cancelled),
        duration_ms=duration_ms,
        ttfb_ms=ttfb_ms,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        metadata=orjson.loads(metadata) if metadata else None,
        error=error,
        request_content_type=req_ct,
        response_content_type=resp_ct,
        request_body=bodies[0],
        response_body=bodies[1],
        request_body_size=req_size,
        response_body_size=resp_size,
        attempts=attempts_from_list(orjson.loads(attempts)) if attempts else [],
        cost=cost,
        custom_cost=tuple(orjson.loads(custom_cost)) if custom_cost else None,
        principal=principal,
        feedback=feedback,
        score=score,
        session=orjson.loads(session) if session else None,
    )


class SqliteLogReader:
    """Queries one log store file. Thread-safe (one connection behind a lock).

    Opening migrates an older store; a missing file raises FileNotFoundError.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._conn: sqlite3.Connection | None = connect(self.path, create=False)
        self._lock = threading.Lock()

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("log reader is closed")
        return self._conn

    def query(self, query: LogQuery) -> LogPage:
        """The page of logs matching `query`, without bodies. Raises ValueError on a bad query."""
        validate_query(query)
        where, params = _where(query)
        direction = "DESC" if query.order == "desc" else "ASC"
        sql = f"SELECT {_COLUMNS} FROM logs{where} ORDER BY log_id {direction} LIMIT ?"
        with self._lock:
            rows = self._db().execute(sql, [*params, query.limit]).fetchall()
        records = [_stored(row) for row in rows]
        next_cursor = records[-1].log_id if len(records) == query.limit else None
        return LogPage(records, next_cursor)

    def count(self, query: LogQuery) -> int:
        """How many logs match `query`'s filters (its order, limit and cursor are ignored)."""
        validate_query(query)
        where, params = _where(_without_paging(query))
        with self._lock:
            return self._db().execute(f"SELECT count(*) FROM logs{where}", params).fetchone()[0]

    def get(self, log_id: str) -> StoredLog | None:
        """One log with its bodies, or None when no log has this id."""
        sql = (
            f"SELECT {', '.join('logs.' + c.strip() for c in _COLUMNS.split(','))}, "
            "b.request_body, b.response_body, b.body_encoding FROM logs LEFT JOIN log_bodies AS b "
            "ON b.log_id = logs.log_id WHERE logs.log_id = ?"
        )
        with self._lock:
            row = self._db().execute(sql, (log_id,)).fetchone()
        if row is None:
            return None
        request, response, encoding = row[-3:]
        if encoding:
            request = _unpacked(request, encoding & REQUEST_PACKED, log_id)
            response = _unpacked(response, encoding & RESPONSE_PACKED, log_id)
        return _stored(row[:-3], (request, response))

    def patch(self, log_id: str, changes: LogPatch) -> StoredLog | None:
        """Set feedback, score and/or metadata of one log; the log without bodies, or None
        when no log has this id. Raises ValueError on a bad change (validate_patch)."""
        validate_patch(changes)
        sets, params = [], []
        for column in ("feedback", "score"):
            if getattr(changes, column) is not None:
                sets.append(f"{column} = ?")
                params.append(getattr(changes, column))
        if changes.metadata is not None:
            sets.append("metadata = ?")
            params.append(orjson.dumps(dict(changes.metadata)).decode() if changes.metadata else None)
        with self._lock:
            db = self._db()
            if sets:
                db.execute(f"UPDATE logs SET {', '.join(sets)} WHERE log_id = ?", [*params, log_id])
            row = db.execute(f"SELECT {_COLUMNS} FROM logs WHERE log_id = ?", (log_id,)).fetchone()
        return None if row is None else _stored(row)

    def delete(self, query: LogQuery) -> int:
        """Delete the logs matching `query`'s filters (order, limit, cursor ignored) and their
        bodies, in one transaction; returns how many logs were deleted."""
        validate_query(query)
        where, params = _where(_without_paging(query))
        with self._lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(f"DELETE FROM log_bodies WHERE log_id IN (SELECT log_id FROM logs{where})", params)
                deleted = db.execute(f"DELETE FROM logs{where}", params).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return deleted

    def close(self) -> None:
        """Close the connection; later calls raise RuntimeError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> SqliteLogReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
