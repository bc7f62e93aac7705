"""The SQLite store keeps a body of 1 KiB or more LZ4-packed when that shrinks it by an eighth
(a streamed answer's SSE ~25x), says so in `log_bodies.body_encoding`, and reads it back as
it was collected; shorter bodies, and stores from before schema version 5, are read as they
are. Both writers (the process's Rust store and the thread's Python one) pack alike."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3

import pytest

from aigw._codec import pack_log_body, unpack_log_body
from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.builtins.sqlite_logs import SqliteLogger

STREAM = b"".join(
    b'data: {"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o-mini",'
    b'"choices":[{"index":0,"delta":{"content":"token %d"}}]}\n\n' % i
    for i in range(64)
) + b"data: [DONE]\n\n"
REQUEST = b'{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}'


def write(path, records, writer: str = "process") -> None:
    async def run() -> None:
        logger = SqliteLogger(path, writer=writer)
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    asyncio.run(run())


def stored_bodies(path, log_id: str) -> tuple[bytes | None, bytes | None, int]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT request_body, response_body, body_encoding FROM log_bodies WHERE log_id = ?", (log_id,)
        ).fetchone()


def streamed(make_record, **fields):
    return make_record(stream=True, request_body=REQUEST, response_body=STREAM, **fields)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_streamed_answer_is_stored_packed_and_read_back_as_collected(tmp_path, make_record, writer):
    record = streamed(make_record)
    write(tmp_path / "logs.db", [record], writer)
    request, response, encoding = stored_bodies(tmp_path / "logs.db", record.log_id)
    assert encoding == 2  # the response's only: the request is under 1 KiB
    assert request == REQUEST
    assert len(response) * 10 < len(STREAM)
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        log = reader.get(record.log_id)
    assert (log.request_body, log.response_body) == (REQUEST, STREAM)


@pytest.mark.parametrize("writer", ["process", "thread"])
def test_a_long_request_body_is_packed_too(tmp_path, make_record, writer):
    long_request = b'{"messages":[' + b",".join([b'{"role":"user","content":"the same words again"}'] * 40) + b"]}"
    record = make_record(request_body=long_request, response_body=b'{"ok":true}')
    write(tmp_path / "logs.db", [record], writer)
    assert stored_bodies(tmp_path / "logs.db", record.log_id)[2] == 1
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        log = reader.get(record.log_id)
    assert (log.request_body, log.response_body) == (long_request, b'{"ok":true}')


def test_a_body_packing_would_not_shrink_is_stored_as_it_is(tmp_path, make_record):
    noise = random.Random(7).randbytes(4096)  # nothing repeats for LZ4 to find
    assert pack_log_body(noise) is None
    record = make_record(response_body=noise, response_content_type="text/plain")
    write(tmp_path / "logs.db", [record])
    assert stored_bodies(tmp_path / "logs.db", record.log_id) == (None, noise, 0)


def test_bodies_of_a_version_4_store_are_read_as_they_are_after_the_migration(tmp_path, make_record, store_at_version):
    path = tmp_path / "logs.db"
    with store_at_version(path, 4) as conn:
        conn.execute(
            "INSERT INTO logs (log_id, created_at, gateway, request_type, status, success, cache_status, "
            "stream, cancelled, duration_ms) VALUES ('old', 1.0, 'default', 'universal', 200, 1, 'MISS', 1, 0, 5.0)"
        )
        conn.execute("INSERT INTO log_bodies (log_id, request_body, response_body) VALUES ('old', ?, ?)", (REQUEST, STREAM))
    record = streamed(make_record)
    write(path, [record])
    with SqliteLogReader(path) as reader:
        old, new = reader.get("old"), reader.get(record.log_id)
    assert (old.request_body, old.response_body) == (REQUEST, STREAM)
    assert (new.request_body, new.response_body) == (REQUEST, STREAM)
    assert stored_bodies(path, "old")[2] == 0


def test_a_corrupt_packed_body_reads_as_not_kept_and_the_log_is_still_read(tmp_path, make_record, caplog):
    record = streamed(make_record)
    write(tmp_path / "logs.db", [record])
    with sqlite3.connect(tmp_path / "logs.db") as conn:
        conn.execute("UPDATE log_bodies SET response_body = substr(response_body, 1, 40) WHERE log_id = ?", (record.log_id,))
    with caplog.at_level(logging.WARNING, logger="aigw.logs"), SqliteLogReader(tmp_path / "logs.db") as reader:
        log = reader.get(record.log_id)
    assert (log.request_body, log.response_body, log.model) == (REQUEST, None, "gpt-4o-mini")
    assert f"log {record.log_id}: a stored body cannot be read" in caplog.text


def test_unpacking_refuses_what_packing_did_not_make():
    packed = pack_log_body(STREAM)
    assert unpack_log_body(packed) == STREAM
    for broken in (packed[:3], packed[:-4], b"\xff\xff\xff\xff" + packed[4:]):
        with pytest.raises(ValueError, match="packed log body"):
            unpack_log_body(broken)
