"""Every upstream try of a request (retries and fallbacks) is stored with its log: in SQLite (the
`attempts` column, schema version 2, migrated from version 1), in JSON lines, and shown by
`aigw logs show`."""

from __future__ import annotations

import asyncio
import sqlite3

import orjson
from click.testing import CliRunner

from aigw.builtins.jsonl_logs import JsonlLogger
from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.builtins.sqlite_log_schema import MIGRATIONS, SCHEMA_VERSION
from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.cli import cli
from aigw.types import Attempt

ATTEMPTS = [
    Attempt(0, 1, "openai", "gpt-4o-mini", 503, "upstream answered 503", 12.5),
    Attempt(0, 2, "openai", "gpt-4o-mini", 200, "step 0: openai: the answer broke off: reset", 30.0),
    Attempt(1, 1, "anthropic", "claude-x", 200, None, 80.0, started_at=1_700_000_000.25),
]


def write(logger, records) -> None:
    async def run() -> None:
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    asyncio.run(run())


def test_attempts_round_trip_through_the_sqlite_store(tmp_path, make_record):
    record = make_record(step=1, provider="anthropic", attempts=list(ATTEMPTS))
    write(SqliteLogger(tmp_path / "logs.db"), [record, make_record()])
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        stored = reader.get(record.log_id)
        listed = reader.query(reader_query()).records
    assert stored.attempts == ATTEMPTS
    assert [r.attempts for r in listed] == [[], ATTEMPTS]


def reader_query():
    from aigw.builtins.sqlite_log_query import LogQuery

    return LogQuery(order="desc")


def test_a_version_1_store_is_migrated_and_keeps_its_rows(tmp_path, make_record):
    path = tmp_path / "logs.db"
    with sqlite3.connect(path) as conn:
        for statement in (s for s in MIGRATIONS[0].split(";") if s.strip()):
            conn.execute(statement)
        conn.execute("PRAGMA user_version = 1")
        conn.execute(
            "INSERT INTO logs (log_id, created_at, gateway, request_type, status, success, cache_status, "
            "stream, cancelled, duration_ms) VALUES ('old', 1.0, 'default', 'websocket', 200, 1, 'MISS', 0, 0, 5.0)"
        )
    record = make_record(attempts=list(ATTEMPTS))
    write(SqliteLogger(path), [record])
    with SqliteLogReader(path) as reader:
        assert reader.get("old").attempts == []
        assert reader.get(record.log_id).attempts == ATTEMPTS
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_jsonl_lines_carry_the_attempts(tmp_path, make_record):
    write(JsonlLogger(tmp_path / "logs.jsonl"), [make_record(attempts=list(ATTEMPTS))])
    (line,) = [orjson.loads(raw) for raw in (tmp_path / "logs.jsonl").read_bytes().splitlines()]
    assert line["attempts"][0] == {
        "step": 0, "attempt": 1, "provider": "openai", "model": "gpt-4o-mini",
        "status": 503, "error": "upstream answered 503", "duration_ms": 12.5, "started_at": None,
    }  # fmt: skip
    assert [a["provider"] for a in line["attempts"]] == ["openai", "openai", "anthropic"]


def test_logs_show_prints_every_attempt(tmp_path, make_record):
    record = make_record(step=1, provider="anthropic", attempts=list(ATTEMPTS))
    write(SqliteLogger(tmp_path / "logs.db"), [record])
    out = CliRunner().invoke(cli, ["logs", "--data-dir", str(tmp_path), "show", record.log_id], catch_exceptions=False).output
    assert "attempts (3)" in out
    assert "step 0 try 1  openai/gpt-4o-mini  status 503" in out and "upstream answered 503" in out
    assert "step 0 try 2" in out and "broke off: reset" in out
    assert "step 1 try 1  anthropic/claude-x  status 200  80ms  answered" in out
