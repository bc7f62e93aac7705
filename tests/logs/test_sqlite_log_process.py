"""The SQLite log writer process (writer = "process", the default): SQLite's work leaves the
gateway's process, and every promise of the in-process writer is kept."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.builtins.sqlite_logs import NULL_NUMBER, NULL_TEXT, SqliteLogger


def stored(path) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT log_id FROM logs ORDER BY log_id").fetchall()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) counts as gone
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(") ", 1)[1][0] != "Z"


async def test_rows_are_inserted_by_a_child_process_not_by_the_gateways(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    assert logger._process.pid is None  # started with the first batch, not before
    records = [make_record() for _ in range(20)]
    for r in records:
        logger.log(r)
    await logger.flush()
    assert len(stored(tmp_path / "logs.db")) == 20  # flush returns after the child committed
    child = logger._process.pid
    assert child is not None and child != os.getpid()
    await logger.close()


async def test_close_stores_everything_and_stops_the_child(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", flush_interval=3600)
    await logger.start()
    for _ in range(1200):
        logger.log(make_record())
    await logger.flush()
    child = logger._process.pid
    for _ in range(300):
        logger.log(make_record())
    await logger.close()
    assert len(stored(tmp_path / "logs.db")) == 1500
    assert not alive(child)


async def test_a_killed_writer_process_is_replaced_and_no_row_is_lost_or_doubled(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    logger.log(make_record())
    await logger.flush()
    first = logger._process.pid
    os.kill(first, signal.SIGKILL)
    while alive(first):
        time.sleep(0.01)
    for _ in range(50):
        logger.log(make_record())
    await logger.flush()
    assert logger._process.pid != first and logger._process.restarts == 1
    assert len(stored(tmp_path / "logs.db")) == 51
    assert logger.stats.written == 51 and logger.stats.failed == 0
    await logger.close()


async def test_a_batch_the_child_cannot_store_is_counted_failed_and_the_writer_carries_on(
    tmp_path, make_record, caplog
):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    logger.log(make_record())
    await logger.flush()
    child = logger._process.pid
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("ALTER TABLE log_bodies RENAME TO moved")  # a batch with bodies now fails
    logger.log(make_record(request_body=b"{}"))
    await logger.flush()
    assert logger.stats.failed == 1
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("ALTER TABLE moved RENAME TO log_bodies")
    logger.log(make_record())
    await logger.flush()
    assert logger.stats.written == 2 and len(stored(tmp_path / "logs.db")) == 2
    assert logger._process.pid == child  # refused, not crashed: no restart
    assert "could not store the batch" in caplog.text
    await logger.close()


async def test_nulls_are_stored_as_null_not_as_the_sentinels(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    record = make_record(event_id=None, error=None, ttfb_ms=None, tokens_in=None, cost=None, principal=None)
    logger.log(record)
    await logger.flush()
    await logger.close()
    row = SqliteLogReader(tmp_path / "logs.db").get(record.log_id)
    assert row is not None
    assert (row.event_id, row.error, row.ttfb_ms, row.tokens_in, row.cost, row.principal) == (None,) * 6
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        values = conn.execute("SELECT * FROM logs").fetchone()
    assert NULL_TEXT not in values and NULL_NUMBER not in values


def test_the_child_exits_when_the_gateway_process_dies(tmp_path):
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        import time
        from aigw.builtins.sqlite_logs import SqliteLogger
        from aigw.logrecords import new_log_id
        from aigw.types import LogRecord
        def record():
            return LogRecord(log_id=new_log_id(), created_at=time.time(), gateway="g", request_type="universal")
        async def main():
            logger = SqliteLogger({str(tmp_path / "logs.db")!r})
            await logger.start()
            logger.log(record())
            await logger.flush()
            print(logger._process.pid, flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    gateway = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, env=env)
    try:
        child = int(gateway.stdout.readline())
        gateway.kill()  # no clean-up code runs in the gateway
        gateway.wait()
        deadline = time.monotonic() + 5
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not alive(child)
    finally:
        gateway.kill()
        gateway.stdout.close()


def test_an_unknown_writer_is_refused():
    with pytest.raises(ValueError, match="writer must be one of process, thread"):
        SqliteLogger("logs.db", writer="rust")


async def test_without_a_python_to_start_the_child_the_logger_writes_from_its_thread(
    tmp_path, make_record, monkeypatch, caplog
):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    for _ in range(3):
        logger.log(make_record())
    await logger.flush()
    assert logger.stats.written == 3 and len(stored(tmp_path / "logs.db")) == 3
    assert logger._process is None and "writing from the gateway's process instead" in caplog.text
    await logger.close()


async def test_the_thread_writer_keeps_sqlite_in_the_gateways_process(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", writer="thread")
    await logger.start()
    assert logger._process is None
    threads: set[int] = set()
    logger._conn.set_trace_callback(lambda sql: threads.add(threading.get_ident()) if sql.startswith("INSERT") else None)
    logger.log(make_record())
    await logger.flush()
    await logger.close()
    assert threads and len(stored(tmp_path / "logs.db")) == 1
