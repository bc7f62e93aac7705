"""SqliteLogReader: each filter, ordering, paging, and single logs with bodies."""

from __future__ import annotations

import asyncio

import pytest

from aigw.builtins.sqlite_log_query import LogQuery, SqliteLogReader
from aigw.builtins.sqlite_logs import SqliteLogger


@pytest.fixture
def store(tmp_path, make_record):
    """A store with one log per notable shape; records[i].created_at == T0 + i."""
    records = [
        make_record(),
        make_record(gateway="other"),
        make_record(provider="anthropic", model="claude-sonnet-4-5"),
        make_record(status=429, success=False, error="rate limited"),
        make_record(event_id="evt-7"),
        make_record(cache_status="HIT"),
        make_record(metadata={"user": "u1", "tier": 2, "beta": True}),
        make_record(request_type="provider", request_body=b'{"q":1}', response_body=b'{"a":2}',
                    request_content_type="application/json", response_content_type="application/json"),
    ]  # fmt: skip

    async def write() -> None:
        logger = SqliteLogger(tmp_path / "logs.db")
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    asyncio.run(write())
    with SqliteLogReader(tmp_path / "logs.db") as reader:
        yield reader, records


def ids(page) -> list[str]:
    return [r.log_id for r in page.records]


def test_default_listing_is_newest_first_without_bodies(store):
    reader, records = store
    page = reader.query(LogQuery())
    assert ids(page) == [r.log_id for r in reversed(records)]
    assert all(r.request_body is None for r in page.records)
    assert page.next_cursor is None


def test_ascending_order_lists_oldest_first(store):
    reader, records = store
    assert ids(reader.query(LogQuery(order="asc"))) == [r.log_id for r in records]


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (LogQuery(gateway="other"), 1),
        (LogQuery(provider="anthropic"), 2),
        (LogQuery(model="claude-sonnet-4-5"), 2),
        (LogQuery(status=429), 3),
        (LogQuery(success=False), 3),
        (LogQuery(event_id="evt-7"), 4),
        (LogQuery(cached=True), 5),
        (LogQuery(request_type="provider"), 7),
    ],
    ids=["gateway", "provider", "model", "status", "errors", "event_id", "cached", "request_type"],
)
def test_each_filter_selects_its_log(store, query, index):
    reader, records = store
    assert ids(reader.query(query)) == [records[index].log_id]


def test_uncached_filter_excludes_cache_hits(store):
    reader, records = store
    assert records[5].log_id not in ids(reader.query(LogQuery(cached=False)))
    assert len(reader.query(LogQuery(cached=False)).records) == len(records) - 1


def test_since_is_inclusive_and_until_exclusive(store):
    reader, records = store
    page = reader.query(LogQuery(since=records[2].created_at, until=records[4].created_at, order="asc"))
    assert ids(page) == [records[2].log_id, records[3].log_id]


def test_metadata_filter_matches_strings(store):
    reader, records = store
    assert ids(reader.query(LogQuery(metadata={"user": "u1"}))) == [records[6].log_id]


def test_metadata_filter_matches_numbers_and_booleans_by_text(store):
    reader, records = store
    assert ids(reader.query(LogQuery(metadata={"tier": "2", "beta": "true"}))) == [records[6].log_id]
    assert ids(reader.query(LogQuery(metadata={"tier": 2, "beta": True}))) == [records[6].log_id]


def test_metadata_filter_requires_every_entry(store):
    reader, _ = store
    assert ids(reader.query(LogQuery(metadata={"user": "u1", "tier": "3"}))) == []


def test_filters_combine_with_and(store):
    reader, _ = store
    assert ids(reader.query(LogQuery(provider="anthropic", gateway="other"))) == []


def test_cursor_pages_through_every_log_once(store):
    reader, records = store
    seen, cursor = [], None
    while True:
        page = reader.query(LogQuery(limit=3, cursor=cursor))
        seen += ids(page)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [r.log_id for r in reversed(records)]


def test_get_returns_bodies_and_fields(store):
    reader, records = store
    stored = reader.get(records[7].log_id)
    assert stored.request_body == b'{"q":1}' and stored.response_body == b'{"a":2}'
    assert stored.request_body_size == 7 and stored.response_content_type == "application/json"
    assert stored.tokens_in == 10 and stored.success is True and stored.stream is False


def test_get_returns_metadata_as_stored(store):
    reader, records = store
    assert reader.get(records[6].log_id).metadata == {"user": "u1", "tier": 2, "beta": True}


def test_get_of_an_unknown_id_is_none(store):
    reader, _ = store
    assert reader.get("00000000-0000-7000-8000-000000000000") is None


@pytest.mark.parametrize(
    "bad", [LogQuery(limit=0), LogQuery(limit=10_001), LogQuery(order="up"), LogQuery(cursor="x" * 100)]
)
def test_a_bad_query_raises_value_error(store, bad):
    reader, _ = store
    with pytest.raises(ValueError):
        reader.query(bad)


def test_opening_a_missing_store_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        SqliteLogReader(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


async def test_logger_query_and_get_run_from_the_loop(tmp_path, make_record):
    logger = SqliteLogger(tmp_path / "logs.db")
    await logger.start()
    record = make_record(response_body=b"ok")
    logger.log(record)
    await logger.flush()
    assert ids(await logger.query(LogQuery())) == [record.log_id]
    assert (await logger.get(record.log_id)).response_body == b"ok"
    await logger.close()


def test_count_ignores_paging_and_applies_filters(store):
    reader, records = store
    assert reader.count(LogQuery(limit=1, cursor=records[-1].log_id)) == len(records)
    assert reader.count(LogQuery(provider="openai")) == len(records) - 1
