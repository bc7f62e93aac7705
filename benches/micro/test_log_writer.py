"""SQLite log writing cost per record (issue 15 item 1): building the row, and inserting it.

A batch is 500 records (the writer's default batch size) of a typical non-streamed chat
request: JSON bodies of ~80 and ~200 bytes, one attempt, no metadata, no error. ``frames`` per
call is the batch size, so the table reads as µs per record.

`insert, None bound` is the statement shape before issue 15 (NULLs bound as None, which
Python's sqlite3 sends through its adapter protocol); `insert, NULL sentinels` is the thread
writer's. The writer process gets each batch as marshal bytes: `child, marshal.loads +
executemany` is what it did before it stored through the Rust `SqliteLogStore` (`child, Rust
store`, today's).
"""

from __future__ import annotations


import pytest

import marshal
import sqlite3

from aigw._codec import SqliteLogStore
from aigw.builtins import sqlite_logs
from aigw.builtins.log_batcher import Pending
from aigw.builtins.sqlite_log_schema import connect
from log_records import typical_record

BATCH = 500


def _batch() -> list[Pending]:
    return [Pending(typical_record(i), None, None) for i in range(BATCH)]


def _none_bound(row: tuple) -> tuple:
    return tuple(None if v == sqlite_logs.NULL_TEXT or v == sqlite_logs.NULL_NUMBER else v for v in row)


PLAIN_INSERT = "INSERT OR IGNORE INTO logs ({}) VALUES ({})".format(
    sqlite_logs.LOG_COLUMNS, ", ".join("?" * len(sqlite_logs.LOG_COLUMNS.split(",")))
)


@pytest.mark.benchmark(group="log-writer")
def test_build_rows(benchmark):
    batch = _batch()
    benchmark.extra_info.update(frames=BATCH, payload_bytes=0, impl="aigw", op="build rows", size="500")
    rows, bodies, bad = benchmark(sqlite_logs.rows_of, batch)
    assert len(rows) == len(bodies) == BATCH and bad == 0


def _insert_bench(benchmark, tmp_path, op: str, statement: str, convert) -> None:
    conn = connect(tmp_path / "logs.db", create=True)

    def setup():
        rows, bodies, _ = sqlite_logs.rows_of(_batch())
        return ([convert(r) for r in rows], bodies), {}

    def insert(rows, bodies):
        conn.execute("BEGIN")
        conn.executemany(statement, rows)
        conn.executemany(sqlite_logs._INSERT_BODIES, sqlite_logs.packed_bodies(bodies))
        conn.execute("COMMIT")

    benchmark.extra_info.update(frames=BATCH, payload_bytes=0, impl="aigw", op=op, size="500")
    benchmark.pedantic(insert, setup=setup, rounds=20)
    stored = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
    assert stored and stored % BATCH == 0  # every row of every round went in
    conn.close()


def test_insert_null_sentinels(benchmark, tmp_path):
    _insert_bench(benchmark, tmp_path, "insert, NULL sentinels", sqlite_logs._INSERT_LOG, lambda r: r)


def test_insert_none_bound(benchmark, tmp_path):
    _insert_bench(benchmark, tmp_path, "insert, None bound (before)", PLAIN_INSERT, _none_bound)


def _child_bench(benchmark, tmp_path, op: str, store_payload) -> None:
    """`store_payload` on a store the caller opened at tmp_path/logs.db."""

    def setup():
        rows, bodies, _ = sqlite_logs.rows_of(_batch())
        return (marshal.dumps((rows, bodies), 2),), {}

    benchmark.extra_info.update(frames=BATCH, payload_bytes=0, impl="aigw", op=op, size="500")
    benchmark.pedantic(store_payload, setup=setup, rounds=20)
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        stored = conn.execute("SELECT count(*) FROM logs").fetchone()[0]
    assert stored and stored % BATCH == 0


def test_child_marshal_loads_and_executemany(benchmark, tmp_path):
    conn = connect(tmp_path / "logs.db", create=True)
    _child_bench(benchmark, tmp_path, "child, marshal.loads + executemany (before)",
                 lambda payload: sqlite_logs.store_rows(conn, *marshal.loads(payload)))
    conn.close()


def test_child_rust_store(benchmark, tmp_path):
    connect(tmp_path / "logs.db", create=True).close()
    store = SqliteLogStore(str(tmp_path / "logs.db"), sqlite_logs.LOG_COLUMNS)
    _child_bench(benchmark, tmp_path, "child, Rust store", store.store)
    store.close()


# ---- a streamed answer's body (issue 15: bodies of 1 KiB and more are stored LZ4-packed) ----

#: What the log keeps of a 64-chunk streamed chat answer: its SSE, ~15 KB.
STREAMED = b"".join(
    b'data: {"id":"chatcmpl-fake0001","object":"chat.completion.chunk","created":1700000000,'
    b'"model":"gpt-4o-mini","system_fingerprint":"fp_fake","choices":[{"index":0,"delta":'
    b'{"content":"tok%d "},"logprobs":null,"finish_reason":null}]}\n\n' % i
    for i in range(64)
) + b"data: [DONE]\n\n"


@pytest.mark.benchmark(group="log-body")
def test_pack_streamed_body_lz4(benchmark):
    from aigw._codec import pack_log_body

    benchmark.extra_info.update(frames=1, payload_bytes=len(STREAMED), impl="aigw", op="pack, LZ4 (stored)", size="15 KB")
    packed = benchmark(pack_log_body, STREAMED)
    benchmark.extra_info["stored_bytes"] = len(packed)
    assert len(packed) * 10 < len(STREAMED)


@pytest.mark.benchmark(group="log-body")
def test_pack_streamed_body_zlib_level_1(benchmark):
    import zlib

    benchmark.extra_info.update(frames=1, payload_bytes=len(STREAMED), impl="stdlib", op="pack, zlib level 1 (not used)", size="15 KB")
    packed = benchmark(zlib.compress, STREAMED, 1)
    benchmark.extra_info["stored_bytes"] = len(packed)


def test_child_rust_store_streamed_bodies(benchmark, tmp_path):
    """The writer process's Rust store, 500 records whose response is a streamed answer."""
    connect(tmp_path / "logs.db", create=True).close()
    store = SqliteLogStore(str(tmp_path / "logs.db"), sqlite_logs.LOG_COLUMNS)

    def setup():
        batch = []
        for i in range(BATCH):
            record = typical_record(i)
            record.stream, record.response_body, record.response_content_type = True, STREAMED, "text/event-stream"
            batch.append(Pending(record, None, None))
        rows, bodies, _ = sqlite_logs.rows_of(batch)
        return (marshal.dumps((rows, bodies), 2),), {}

    benchmark.extra_info.update(frames=BATCH, payload_bytes=0, impl="aigw", op="child, Rust store, streamed bodies", size="500")
    benchmark.pedantic(store.store, setup=setup, rounds=20)
    store.close()
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        assert conn.execute("SELECT count(*) FROM log_bodies WHERE body_encoding = 2").fetchone()[0] % BATCH == 0


# ---- emptying a backlog (issue 15: the writer's take moved every pending row per chunk) ----


def _filled_encoder(rows: int):
    import dataclasses

    from aigw._codec import LogRowEncoder
    from aigw.types import Attempt, LogRecord

    enc = LogRowEncoder(LogRecord, Attempt, [f.name for f in dataclasses.fields(Attempt)], sqlite_logs.MAX_ERROR_CHARS)
    record = typical_record(0)
    for _ in range(rows):
        enc.add(record, None, None, record.request_body, record.response_body)
    return enc


@pytest.mark.benchmark(group="log-backlog")
@pytest.mark.parametrize("rows", [10_000, 100_000])
def test_empty_a_backlog(benchmark, rows):
    """`take_all` holds the GIL for the whole call: this is how long the event loop stands
    still when the writer has fallen `rows` behind."""
    benchmark.extra_info.update(frames=rows, payload_bytes=0, impl="aigw", op="empty a backlog (take_all)", size=str(rows))
    benchmark.pedantic(lambda enc: enc.take_all(BATCH), setup=lambda: ((_filled_encoder(rows),), {}), rounds=3)
