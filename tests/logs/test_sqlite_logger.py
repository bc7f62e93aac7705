"""SqliteLogger: batches written off the loop, nothing lost on close, bounded backlog."""

from __future__ import annotations

import asyncio
import gc
import logging
import sqlite3
import threading
import time
import weakref

import pytest

from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.builtins.sqlite_log_schema import PAGE_SIZE, SCHEMA_VERSION
from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.errors import ConfigError
from aigw.interfaces import Logger


def count_rows(path) -> int:
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT count(*) FROM logs").fetchone()[0]


def test_sqlite_logger_satisfies_the_logger_protocol(tmp_path):
    assert isinstance(SqliteLogger(tmp_path / "logs.db"), Logger)


async def test_log_only_queues_and_flush_stores(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", flush_interval=3600)
    await logger.start()
    record = make_record()
    logger.log(record)
    assert count_rows(tmp_path / "logs.db") == 0  # the writer is still gathering its batch
    await logger.flush()
    assert count_rows(tmp_path / "logs.db") == 1
    await logger.close()


async def test_stats_count_every_record_accepted_before_it_is_written(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", flush_interval=3600)  # the writer process's native entry
    await logger.start()
    for _ in range(3):
        logger.log(make_record())
    assert (logger.stats.accepted, logger.stats.written) == (3, 0)
    await logger.flush()
    assert (logger.stats.accepted, logger.stats.written) == (3, 3) and count_rows(tmp_path / "logs.db") == 3
    await logger.close()


async def test_inserts_run_on_a_thread_other_than_the_loop(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", writer="thread")
    await logger.start()
    insert_threads: set[int] = set()
    logger._conn.set_trace_callback(  # observe the real connection, write nothing ourselves
        lambda sql: insert_threads.add(threading.get_ident()) if sql.startswith("INSERT") else None
    )
    for _ in range(10):
        logger.log(make_record())
    await logger.flush()
    await logger.close()
    assert insert_threads and threading.get_ident() not in insert_threads


async def test_records_waiting_at_start_are_written_in_full_batches(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", batch_size=500)
    for _ in range(2000):
        logger.log(make_record())
    await logger.start()
    await logger.flush()
    assert logger.stats.written == 2000
    assert logger.stats.batches == 4  # one transaction per 500 records
    await logger.close()


async def test_a_burst_is_written_in_few_transactions(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", batch_size=500, flush_interval=3600)
    await logger.start()
    for _ in range(5000):
        logger.log(make_record())
    await logger.flush()
    assert logger.stats.written == 5000
    assert logger.stats.batches <= 21  # at most two chunks per wake-up, never one per record
    await logger.close()


async def test_close_loses_nothing_logged_just_before(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    records = [make_record() for _ in range(10_000)]
    for record in records:
        logger.log(record)
    await logger.close()
    assert logger.stats.written == 10_000 and logger.stats.dropped == 0
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        stored = {row[0] for row in conn.execute("SELECT log_id FROM logs")}
    assert stored == {r.log_id for r in records}


async def test_a_record_whose_attribute_lets_the_writer_run_mid_append_loses_nothing(tmp_path, make_record):
    # The native entry appends without the batcher's lock, holding the encoder; an attribute
    # that runs Python code (here: sleeps, releasing the GIL) lets the woken writer thread look
    # at the backlog meanwhile. It must wait its turn, not die and strand every later record.
    import dataclasses

    from aigw.types import LogRecord

    class Slow(LogRecord):
        __slots__ = ()

        def __getattribute__(self, name):
            if name == "response_body":
                time.sleep(0.002)
            return super().__getattribute__(name)

    logger = SqliteLogger(tmp_path / "logs.db", flush_interval=0.001)
    await logger.start()
    errors: list = []
    previous, threading.excepthook = threading.excepthook, errors.append
    try:
        records = [make_record()] + [Slow(**dataclasses.asdict(make_record())) for _ in range(60)]
        for record in records:
            logger.log(record)
        await logger.close()
    finally:
        threading.excepthook = previous
    assert errors == [] and logger.stats.written == len(records)
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert {row[0] for row in conn.execute("SELECT log_id FROM logs")} == {r.log_id for r in records}


async def test_close_writes_records_logged_before_start(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    logger.log(make_record())
    await logger.close()
    assert count_rows(tmp_path / "logs.db") == 1


async def test_full_backlog_drops_new_records_with_a_counted_warning(tmp_path, make_record, caplog):
    logger = SqliteLogger(tmp_path / "logs.db", max_backlog=10)
    with caplog.at_level(logging.WARNING, logger="aigw.logs"):
        for _ in range(15):
            logger.log(make_record())
    assert logger.stats.dropped == 5 and logger.stats.accepted == 10
    assert "overloaded" in caplog.text and "1 records dropped" in caplog.text
    await logger.start()
    await logger.close()
    assert count_rows(tmp_path / "logs.db") == 10


async def test_backlog_over_its_byte_budget_keeps_records_without_bodies(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", max_backlog_bytes=100)
    first = make_record(request_body=b"a" * 60)
    second = make_record(request_body=b"b" * 60)
    logger.log(first)
    logger.log(second)
    assert logger.stats.bodies_dropped == 1
    await logger.close()
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        assert reader.get(first.log_id).request_body == b"a" * 60
        kept = reader.get(second.log_id)
    assert kept.request_body is None and kept.request_body_size == 60


async def test_a_body_over_the_size_limit_is_not_stored_but_its_size_is(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", max_body_bytes=10)
    record = make_record(request_body=b"x" * 10, response_body=b"y" * 11)
    logger.log(record)
    await logger.close()
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        stored = reader.get(record.log_id)
    assert stored.request_body == b"x" * 10 and stored.request_body_size == 10
    assert stored.response_body is None and stored.response_body_size == 11
    assert record.response_body == b"y" * 11  # the caller's record is left alone


async def test_records_logged_after_close_are_dropped_and_counted(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    await logger.close()
    logger.log(make_record())
    assert logger.stats.dropped == 1


async def test_a_duplicate_log_id_is_counted_failed_and_the_batch_survives(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    record = make_record()
    logger.log(record)
    logger.log(make_record(log_id=record.log_id))
    logger.log(make_record())
    await logger.close()
    assert logger.stats.written == 2 and logger.stats.failed == 1
    assert count_rows(tmp_path / "logs.db") == 2


async def test_store_is_wal_mode_with_the_current_schema_version(tmp_path):
    logger = SqliteLogger(tmp_path / "data" / "logs.db")
    await logger.start()
    await logger.close()
    with sqlite3.connect(tmp_path / "data" / "logs.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


async def test_a_new_store_has_16_kib_pages(tmp_path):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    await logger.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == PAGE_SIZE == 16384


async def test_a_store_made_with_4_kib_pages_keeps_them_and_its_logs(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    with sqlite3.connect(tmp_path / "logs.db") as conn:  # an empty file that an older aigw set up
        conn.execute("PRAGMA page_size = 4096")
        conn.execute("PRAGMA journal_mode = WAL")
    await logger.start()
    logger.log(make_record())
    await logger.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 4096
    assert count_rows(tmp_path / "logs.db") == 1


async def test_reopening_a_store_keeps_its_logs(tmp_path, make_record):
    for _ in range(2):
        logger = SqliteLogger(tmp_path / "logs.db")
        await logger.start()
        logger.log(make_record())
        await logger.close()
    assert count_rows(tmp_path / "logs.db") == 2


async def test_a_store_from_a_newer_aigw_is_refused(tmp_path):
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ConfigError, match="newer"):
        await SqliteLogger(tmp_path / "logs.db").start()


async def test_write_errors_are_counted_and_the_writer_carries_on(tmp_path, make_record, caplog):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("DROP TABLE logs")  # every insert now fails
    with caplog.at_level(logging.ERROR, logger="aigw.logs"):
        for _ in range(3):
            logger.log(make_record())
            await logger.flush()
    assert logger.stats.failed == 3 and logger.stats.written == 0
    assert caplog.text.count("failed to write") == 1  # reported once, not per batch
    await logger.close()


async def test_retention_days_deletes_older_logs_and_their_bodies(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", retention_days=1)
    await logger.start()
    old = make_record(created_at=time.time() - 2 * 86400, request_body=b"old")
    new = make_record(created_at=time.time())
    logger.log(old)
    logger.log(new)
    await logger.flush()
    assert await logger.prune() == 1
    await logger.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert [r[0] for r in conn.execute("SELECT log_id FROM logs")] == [new.log_id]
        assert conn.execute("SELECT count(*) FROM log_bodies").fetchone()[0] == 0


async def test_max_logs_keeps_only_the_newest(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db", max_logs=2)
    await logger.start()
    records = [make_record() for _ in range(5)]
    for r in records:
        logger.log(r)
    await logger.flush()
    assert await logger.prune() == 3
    await logger.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        kept = [r[0] for r in conn.execute("SELECT log_id FROM logs ORDER BY log_id")]
    assert kept == [r.log_id for r in records[-2:]]


async def test_retention_applies_when_the_logger_starts(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    for _ in range(3):
        logger.log(make_record())
    await logger.close()
    logger = SqliteLogger(tmp_path / "logs.db", max_logs=1)
    await logger.start()
    await logger.close()
    assert count_rows(tmp_path / "logs.db") == 1


async def test_records_logged_while_the_writer_keeps_taking_batches_are_all_written(tmp_path, make_record):
    # Tiny batches and no gathering: the writer thread takes rows all the time the loop logs.
    logger = SqliteLogger(tmp_path / "logs.db", batch_size=3, flush_interval=0)
    await logger.start()
    for i in range(1500):
        logger.log(make_record())
        if i % 7 == 0:
            await asyncio.sleep(0)
    await logger.flush()
    stats = logger.stats
    assert (stats.accepted, stats.written, stats.failed, stats.dropped) == (1500, 1500, 0, 0)
    assert count_rows(tmp_path / "logs.db") == 1500
    await logger.close()


async def test_a_closed_logger_that_is_dropped_is_freed(tmp_path, make_record):
    # The native entry is invisible to the garbage collector: nothing it holds may lead back.
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    logger.log(make_record())
    await logger.close()
    batcher = weakref.ref(logger._batcher)
    del logger
    gc.collect()
    assert batcher() is None
