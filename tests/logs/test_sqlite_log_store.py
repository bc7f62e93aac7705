"""`aigw._codec.SqliteLogStore`, the writer process's Rust store, stores a batch exactly as
Python's `store_rows` does (every column, NULLs, bodies, duplicates), refuses a malformed
batch whole, and prunes as `prune_store` does."""

from __future__ import annotations

import marshal
import sqlite3
import time

import pytest

from aigw._codec import SqliteLogStore
from aigw.builtins.sqlite_log_schema import connect
from aigw.builtins.sqlite_logs import LOG_COLUMNS, log_row, prune_store, store_rows
from aigw.builtins.log_batcher import Pending
from aigw.types import Attempt


def payload(records, bodies=True) -> bytes:
    rows = [log_row(Pending(r, None, None)) for r in records]
    body_rows = [(r.log_id, r.request_body, r.response_body) for r in records if bodies and (r.request_body or r.response_body)]
    return marshal.dumps((rows, body_rows), 2)


def rust_store(path) -> SqliteLogStore:
    connect(path, create=True).close()
    return SqliteLogStore(str(path), LOG_COLUMNS)


def everything(path) -> tuple[list, list]:
    with sqlite3.connect(path) as conn:
        return (conn.execute("SELECT * FROM logs ORDER BY log_id").fetchall(),
                conn.execute("SELECT * FROM log_bodies ORDER BY log_id").fetchall())


def varied(make_record) -> list:
    return [
        make_record(),
        make_record(event_id=None, error=None, ttfb_ms=None, tokens_in=None, tokens_out=None, cost=None, principal=None),
        make_record(status=502, success=False, error="upstream said ü", metadata={"user": "a", "n": 2},
                    attempts=[Attempt(0, 1, "openai", "gpt-4o-mini", 502, "bad gateway", 2.5, time.time())],
                    request_body=b'{"q":1}', response_body=None, custom_cost=(1e-6, 2e-6), tokens_in=2**40),
        make_record(request_body=b"", response_body=b"\x00\xff binary", stream=True, cancelled=True, feedback=-1, score=90),
    ]


def test_a_batch_is_stored_as_pythons_store_rows_stores_it(tmp_path, make_record):
    records = varied(make_record)
    by_python = connect(tmp_path / "python.db", create=True)
    rows, bodies = marshal.loads(payload(records))
    store_rows(by_python, rows, bodies)
    by_python.close()
    store = rust_store(tmp_path / "rust.db")
    assert store.store(payload(records)) == 0
    store.close()
    assert everything(tmp_path / "rust.db") == everything(tmp_path / "python.db")
    assert len(everything(tmp_path / "rust.db")[0]) == 4


def test_rows_already_stored_are_counted_not_stored_again(tmp_path, make_record):
    first, second = make_record(), make_record()
    store = rust_store(tmp_path / "logs.db")
    store.store(payload([first]))
    assert store.store(payload([first, second])) == 1
    assert len(everything(tmp_path / "logs.db")[0]) == 2


def test_a_malformed_batch_is_refused_whole_and_names_its_fault(tmp_path, make_record):
    store = rust_store(tmp_path / "logs.db")
    good = payload([make_record(request_body=b"{}"), make_record()])
    with pytest.raises(RuntimeError, match=r"log batch: .* at byte \d+"):
        store.store(good[:-3])
    with pytest.raises(RuntimeError, match="a row of the logs table's columns"):
        store.store(marshal.dumps(([log_row(Pending(make_record(), None, None))[:-1]], []), 2))
    assert everything(tmp_path / "logs.db") == ([], [])
    store.store(good)  # the store carries on
    assert len(everything(tmp_path / "logs.db")[0]) == 2


def test_prune_deletes_what_prune_store_deletes(tmp_path, make_record):
    records = [make_record(request_body=b"{}") for _ in range(6)]  # created one second apart
    cut = records[2].created_at
    by_python = connect(tmp_path / "python.db", create=True)
    store_rows(by_python, *marshal.loads(payload(records)))
    assert prune_store(by_python, older_than=cut, keep_newest=3) == 3
    by_python.close()
    store = rust_store(tmp_path / "rust.db")
    store.store(payload(records))
    assert store.prune(cut, 3) == 3
    assert store.prune(None, None) == 0
    store.close()
    assert everything(tmp_path / "rust.db") == everything(tmp_path / "python.db")


def test_a_closed_store_refuses_batches(tmp_path, make_record):
    store = rust_store(tmp_path / "logs.db")
    store.close()
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.store(payload([make_record()]))


def test_a_store_without_the_logs_columns_is_refused_at_open(tmp_path):
    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE logs (log_id TEXT PRIMARY KEY)")
        conn.execute("CREATE TABLE log_bodies (log_id TEXT PRIMARY KEY, request_body, response_body)")
    with pytest.raises(RuntimeError, match="no column named|has no column"):
        SqliteLogStore(str(tmp_path / "other.db"), LOG_COLUMNS)
