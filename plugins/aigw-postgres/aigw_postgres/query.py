"""Reading and editing the PostgreSQL log store: `aigw.log_query.LogQuery` turned into SQL, rows
into `StoredLog`s, `LogPatch`es into updates. The same filters, order, keyset paging and edits
as the SQLite store (aigw.builtins.sqlite_log_query)."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.log_query import LogPage, LogPatch, LogQuery, StoredLog, meta_text, validate_patch, validate_query
from aigw.logrecords import attempts_from_list

COLUMNS = (
    "log_id", "created_at", "gateway", "request_type", "event_id", "provider", "model", "endpoint", "status",
    "success", "step", "cache_status", "stream", "cancelled", "duration_ms", "ttfb_ms", "tokens_in", "tokens_out",
    "metadata", "error", "request_content_type", "response_content_type", "request_body_size", "response_body_size",
    "attempts", "cost", "custom_cost", "principal", "feedback", "score", "session",
)  # fmt: skip
JSON_COLUMNS = ("metadata", "attempts", "custom_cost", "session")  # jsonb, written and read as JSON text
_SELECT = ", ".join(f"l.{c}::text" if c in JSON_COLUMNS else f"l.{c}" for c in COLUMNS)
# Stored metadata values compared by their text form, so "42" matches 42 and "true" matches true.
_META_MATCH = (
    "EXISTS (SELECT 1 FROM jsonb_each(l.metadata) AS m WHERE m.key = ${} AND "
    "(CASE jsonb_typeof(m.value) WHEN 'string' THEN m.value #>> '{{}}' ELSE m.value::text END) = ${})"
)


def where(q: LogQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of `q` (empty when it filters nothing) and its parameters."""
    conds: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    for column in ("gateway", "provider", "model", "request_type", "status", "event_id"):
        value = getattr(q, column)
        if value is not None:
            conds.append(f"l.{column} = {param(value)}")
    if q.success is not None:
        conds.append("l.success" if q.success else "NOT l.success")
    if q.cached is not None:
        conds.append("l.cache_status = 'HIT'" if q.cached else "l.cache_status <> 'HIT'")
    if q.since is not None:
        conds.append(f"l.created_at >= {param(float(q.since))}")
    if q.until is not None:
        conds.append(f"l.created_at < {param(float(q.until))}")
    for key, value in q.metadata.items():
        params += [key, meta_text(value)]
        conds.append(_META_MATCH.format(len(params) - 1, len(params)))
    for column, op, value in (
        ("duration_ms", ">=", q.min_duration), ("duration_ms", "<=", q.max_duration),
        ("cost", ">=", q.min_cost), ("cost", "<=", q.max_cost),
    ):  # fmt: skip
        if value is not None:
            conds.append(f"l.{column} {op} {param(float(value))}")
    if q.feedback is not None:
        conds.append(f"l.feedback = {param(int(q.feedback))}")
    if q.cursor is not None:
        conds.append(f"l.log_id {'<' if q.order == 'desc' else '>'} {param(q.cursor)}")
    return (" WHERE " + " AND ".join(conds)) if conds else "", params


def _stored(row: Any, bodies: tuple[Any, Any] = (None, None)) -> StoredLog:
    values = dict(zip(COLUMNS, row[: len(COLUMNS)], strict=True))
    metadata, attempts = values.pop("metadata"), values.pop("attempts")
    custom_cost, session = values.pop("custom_cost"), values.pop("session")
    return StoredLog(
        **values,
        metadata=orjson.loads(metadata) if metadata else None,
        attempts=attempts_from_list(orjson.loads(attempts)) if attempts else [],
        custom_cost=tuple(orjson.loads(custom_cost)) if custom_cost else None,
        session=orjson.loads(session) if session else None,
        request_body=None if bodies[0] is None else bytes(bodies[0]),
        response_body=None if bodies[1] is None else bytes(bodies[1]),
    )


async def query(conn: Any, q: LogQuery) -> LogPage:
    """The page of logs matching `q`, without bodies. Raises ValueError on a bad query."""
    validate_query(q)
    clause, params = where(q)
    direction = "DESC" if q.order == "desc" else "ASC"
    sql = f"SELECT {_SELECT} FROM aigw_logs AS l{clause} ORDER BY l.log_id {direction} LIMIT {int(q.limit)}"
    records = [_stored(row) for row in await conn.fetch(sql, *params)]
    return LogPage(records, records[-1].log_id if len(records) == q.limit else None)


async def get(conn: Any, log_id: str) -> StoredLog | None:
    """One log with its bodies, or None."""
    sql = (
        f"SELECT {_SELECT}, b.request_body, b.response_body FROM aigw_logs AS l "
        "LEFT JOIN aigw_log_bodies AS b ON b.log_id = l.log_id WHERE l.log_id = $1"
    )
    row = await conn.fetchrow(sql, log_id)
    if row is None:
        return None
    return _stored(row, (row[-2], row[-1]))


def _unpaged(q: LogQuery) -> LogQuery:
    return LogQuery(**{name: getattr(q, name) for name in LogQuery.__dataclass_fields__ if name != "cursor"})


async def patch(conn: Any, log_id: str, changes: LogPatch) -> StoredLog | None:
    """Apply `changes` to one log; the log without bodies, or None when no log has this id.
    Raises ValueError on a bad change (aigw.log_query.validate_patch)."""
    validate_patch(changes)
    sets: list[str] = []
    params: list[Any] = []
    for column in ("feedback", "score"):
        value = getattr(changes, column)
        if value is not None:
            params.append(int(value))
            sets.append(f"{column} = ${len(params)}")
    if changes.metadata is not None:
        params.append(orjson.dumps(dict(changes.metadata)).decode() if changes.metadata else None)
        sets.append(f"metadata = ${len(params)}::jsonb")
    async with conn.transaction():
        if sets:
            await conn.execute(f"UPDATE aigw_logs SET {', '.join(sets)} WHERE log_id = ${len(params) + 1}", *params, log_id)
        row = await conn.fetchrow(f"SELECT {_SELECT} FROM aigw_logs AS l WHERE l.log_id = $1", log_id)
    return None if row is None else _stored(row)


async def delete(conn: Any, q: LogQuery) -> int:
    """Delete the logs matching `q`'s filters (its order, limit and cursor are ignored) and
    their bodies, in one transaction; returns how many logs were deleted."""
    validate_query(q)
    clause, params = where(_unpaged(q))
    async with conn.transaction():
        await conn.execute(
            f"DELETE FROM aigw_log_bodies WHERE log_id IN (SELECT l.log_id FROM aigw_logs AS l{clause})", *params
        )
        status = await conn.execute(f"DELETE FROM aigw_logs AS l{clause}", *params)
    return int(status.split()[-1])
