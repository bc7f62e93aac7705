"""A realtime session's stats (frames and bytes each way, close codes, who closed, resumptions)
are stored with its log in SQLite (the `session` column, schema version 4, migrated from
version 3) and shown by `aigw logs show`."""

from __future__ import annotations

import asyncio
import sqlite3

from click.testing import CliRunner

from aigw.builtins.sqlite_log_query import LogQuery, SqliteLogReader
from aigw.builtins.sqlite_log_schema import SCHEMA_VERSION
from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.cli import cli

SESSION = {
    "frames_in": 12, "bytes_in": 4096, "frames_out": 40, "bytes_out": 96000,
    "client_close_code": 1000, "client_close_reason": "bye",
    "upstream_close_code": 1000, "upstream_close_reason": "",
    "closed_by": "client", "resumptions": 2,
}  # fmt: skip


def write(logger, records) -> None:
    async def run() -> None:
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    asyncio.run(run())


def realtime(make_record, **fields):
    return make_record(request_type="realtime", status=101, endpoint="realtime", stream=True, session=dict(SESSION), **fields)


def test_session_stats_round_trip_through_the_sqlite_store(tmp_path, make_record):
    record = realtime(make_record)
    write(SqliteLogger(tmp_path / "logs.db"), [record, make_record()])
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        assert reader.get(record.log_id).session == SESSION
        assert [r.session for r in reader.query(LogQuery(order="asc")).records] == [SESSION, None]


def test_a_version_3_store_is_migrated_and_keeps_its_rows(tmp_path, make_record, store_at_version):
    path = tmp_path / "logs.db"
    with store_at_version(path, 3) as conn:
        conn.execute(
            "INSERT INTO logs (log_id, created_at, gateway, request_type, status, success, cache_status, "
            "stream, cancelled, duration_ms, cost) VALUES ('old', 1.0, 'default', 'realtime', 101, 1, 'MISS', 1, 0, 5.0, 0.25)"
        )
    record = realtime(make_record)
    write(SqliteLogger(path), [record])
    with SqliteLogReader(path) as reader:
        old = reader.get("old")
        assert (old.session, old.cost) == (None, 0.25)
        assert reader.get(record.log_id).session == SESSION
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_logs_show_prints_the_realtime_session(tmp_path, make_record):
    record = realtime(make_record)
    write(SqliteLogger(tmp_path / "logs.db"), [record])
    out = CliRunner().invoke(cli, ["logs", "--data-dir", str(tmp_path), "show", record.log_id], catch_exceptions=False).output
    assert "realtime session" in out
    assert "client -> provider  12 frames  4096 bytes" in out
    assert "provider -> client  40 frames  96000 bytes" in out
    assert "client close  1000 bye" in out and "closed by  client" in out and "resumptions  2" in out


def test_logs_show_of_a_request_has_no_session_section(tmp_path, make_record):
    record = make_record()
    write(SqliteLogger(tmp_path / "logs.db"), [record])
    out = CliRunner().invoke(cli, ["logs", "--data-dir", str(tmp_path), "show", record.log_id], catch_exceptions=False).output
    assert "realtime session" not in out and "session " not in out
