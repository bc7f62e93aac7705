"""aigw-postgres against a real PostgreSQL: the same fields and queries as the SQLite store,
exactly-once batches, the bounded backlog while PostgreSQL is down, nothing lost on a graceful
stop, versioned migrations, and `aigw logs` reading it through the LogStore protocol."""

from __future__ import annotations

import dataclasses
import itertools
import time

import pytest
from click.testing import CliRunner

from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.cli import cli
from aigw.log_query import LogQuery
from aigw.logrecords import new_log_id
from aigw.secret import Secret
from aigw.testing.gateway import to_toml
from aigw.testing.servers import find_postgres, postgres_server
from aigw.types import Attempt, LogRecord

aigw_postgres = pytest.importorskip("aigw_postgres", reason="aigw-postgres is not installed (pip install ./plugins/aigw-postgres)")
asyncpg = pytest.importorskip("asyncpg")

T0 = 1_790_000_000.0
_counter = itertools.count()


def record(**fields) -> LogRecord:
    n = next(_counter)
    base = dict(
        log_id=new_log_id(), created_at=T0 + n, gateway="default", request_type="universal", provider="openai",
        model="gpt-4o-mini", endpoint="chat/completions", status=200, success=True, duration_ms=120.5,
        ttfb_ms=80.0, tokens_in=10, tokens_out=20,
    )  # fmt: skip
    base.update(fields)
    return LogRecord(**base)


@pytest.fixture
async def pg(postgres_proc):
    """A started PostgresLogger on an emptied store."""
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
    finally:
        await conn.close()
    logger = aigw_postgres.PostgresLogger(Secret(postgres_proc.dsn), flush_interval=0.01)
    await logger.start()
    yield logger
    await logger.close()


def mixed_records() -> list[LogRecord]:
    return [
        record(),
        record(provider="anthropic", model="claude", status=500, success=False, error="upstream broke"),
        record(cache_status="HIT", metadata={"user": "u1", "n": 42, "ok": True}),
        record(event_id="e-1", stream=True, request_body=b'{"q":1}', response_body=b"\x00\xffbytes",
               request_content_type="application/json", response_content_type="application/octet-stream"),
        record(gateway="other", cancelled=True, tokens_in=None, tokens_out=None, ttfb_ms=None),
        record(step=1, provider="anthropic", attempts=[
            Attempt(0, 1, "openai", "gpt-4o-mini", 503, "upstream answered 503", 12.25),
            Attempt(0, 2, "openai", None, 0, "connection reset by peer", 0.0),
            Attempt(1, 1, "anthropic", "claude", 200, None, 250.5, started_at=T0 + 5.5),
        ]),
        record(cost=0.0125, principal="2c9aea84371c", feedback=1, score=90, duration_ms=900.0),
        record(cost=0.5, custom_cost=(0.001, 0.002), feedback=-1, duration_ms=30.0),
        record(request_type="realtime", status=101, stream=True, cost=None, session={
            "frames_in": 4, "bytes_in": 512, "frames_out": 23, "bytes_out": 9000, "client_close_code": 1000,
            "client_close_reason": "", "upstream_close_code": None, "upstream_close_reason": None,
            "closed_by": "client", "resumptions": 1,
        }),
    ]  # fmt: skip


QUERIES = [
    LogQuery(),
    LogQuery(order="asc", limit=2),
    LogQuery(provider="anthropic"),
    LogQuery(success=False),
    LogQuery(cached=True),
    LogQuery(cached=False, gateway="default"),
    LogQuery(metadata={"n": "42", "ok": "true"}),
    LogQuery(metadata={"user": "nobody"}),
    LogQuery(event_id="e-1"),
    LogQuery(since=T0 + 1, until=T0 + 3),
    LogQuery(min_duration=100, max_duration=500),
    LogQuery(min_duration=900.0),
    LogQuery(min_cost=0.01),
    LogQuery(max_cost=0.1),
    LogQuery(min_cost=0.01, max_cost=0.1),
    LogQuery(feedback=1),
    LogQuery(feedback=-1),
    LogQuery(request_type="realtime"),
]


async def test_the_postgres_store_answers_every_query_as_the_sqlite_store_does(pg, tmp_path):
    records = mixed_records()
    sqlite = SqliteLogger(tmp_path / "logs.db", flush_interval=0.01)
    await sqlite.start()
    try:
        for r in records:
            pg.log(dataclasses.replace(r))
            sqlite.log(dataclasses.replace(r))
        await pg.flush()
        await sqlite.flush()
        for q in QUERIES:
            want = await sqlite.query(q)
            got = await pg.query(q)
            assert [dataclasses.asdict(r) for r in got.records] == [dataclasses.asdict(r) for r in want.records], q
            assert got.next_cursor == want.next_cursor
        assert (await pg.get(records[-1].log_id)).attempts == records[-1].attempts
        page = await pg.query(LogQuery(order="asc", limit=2, cursor=(await pg.query(LogQuery(order="asc", limit=2))).next_cursor))
        assert [r.log_id for r in page.records] == [r.log_id for r in records[2:4]]
        for r in records:
            assert dataclasses.asdict(await pg.get(r.log_id)) == dataclasses.asdict(await sqlite.get(r.log_id))
        assert await pg.get(new_log_id()) is None
    finally:
        await sqlite.close()


async def test_patch_and_delete_change_the_postgres_store_as_they_change_the_sqlite_store(pg, tmp_path):
    from aigw.interfaces import LogEditor
    from aigw.log_query import LogPatch

    records = mixed_records()
    sqlite = SqliteLogger(tmp_path / "logs.db", flush_interval=0.01)
    await sqlite.start()
    try:
        assert isinstance(pg, LogEditor)
        for r in records:
            pg.log(dataclasses.replace(r))
            sqlite.log(dataclasses.replace(r))
        await pg.flush()
        await sqlite.flush()
        changes = [
            (records[0].log_id, LogPatch(feedback=-1, score=10)),
            (records[2].log_id, LogPatch(metadata={"team": "b", "n": 7})),
            (records[3].log_id, LogPatch(metadata={})),  # empties the metadata
            (records[6].log_id, LogPatch(score=55)),  # feedback kept
            (new_log_id(), LogPatch(feedback=1)),  # no such log
        ]
        for log_id, change in changes:
            got, want = await pg.patch(log_id, change), await sqlite.patch(log_id, change)
            assert (got and dataclasses.asdict(got)) == (want and dataclasses.asdict(want)), change
        with pytest.raises(ValueError):
            await pg.patch(records[0].log_id, LogPatch(score=101))
        for q in (LogQuery(feedback=-1), LogQuery(metadata={"team": "b"})):
            assert [r.log_id for r in (await pg.query(q)).records] == [r.log_id for r in (await sqlite.query(q)).records]
        for q in (LogQuery(feedback=-1, limit=1, cursor="zzz"), LogQuery(provider="anthropic"), LogQuery(provider="nobody")):
            assert await pg.delete(q) == await sqlite.delete(q), q
        everything = LogQuery(order="asc", limit=100)
        got, want = (await pg.query(everything)).records, (await sqlite.query(everything)).records
        assert [dataclasses.asdict(r) for r in got] == [dataclasses.asdict(r) for r in want]
        assert len(got) == len(records) - 4  # two with feedback -1, two more by anthropic
        assert await pg.get(records[1].log_id) is None
    finally:
        await sqlite.close()


async def test_a_record_logged_twice_is_stored_once(pg):
    r = record()
    pg.log(r)
    pg.log(dataclasses.replace(r))  # e.g. a batch retried after its acknowledgement was lost
    await pg.flush()
    assert [x.log_id for x in (await pg.query(LogQuery())).records] == [r.log_id]


async def test_a_store_with_a_newer_schema_is_refused(pg, postgres_proc):
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("UPDATE aigw_schema SET version = 99 WHERE component = 'logs'")
    finally:
        await conn.close()
    newer = aigw_postgres.PostgresLogger(Secret(postgres_proc.dsn))
    with pytest.raises(Exception, match="schema version 99, newer than this aigw-postgres"):
        await newer.start()
    await newer.close()


@pytest.mark.skipif(find_postgres() is None, reason="PostgreSQL is not installed")
async def test_records_wait_in_the_backlog_while_postgres_is_down_and_none_is_lost(tmp_path):
    with postgres_server() as server:
        logger = aigw_postgres.PostgresLogger(Secret(server.dsn), flush_interval=0.01, close_timeout=20)
        await logger.start()
        server.stop()
        records = [record() for _ in range(200)]
        started = time.monotonic()
        for r in records:
            logger.log(r)  # the request path: never waits for PostgreSQL
        assert time.monotonic() - started < 0.5
        time.sleep(0.3)
        assert logger.stats.written == 0 and logger.stats.dropped == 0
        server.start()
        await logger.close()  # graceful stop: writes everything accepted
        assert (logger.stats.written, logger.stats.failed, logger.stats.dropped) == (200, 0, 0)
        reader = aigw_postgres.PostgresLogger(Secret(server.dsn))
        try:
            stored = (await reader.query(LogQuery(limit=1000))).records
        finally:
            await reader.close()
        assert sorted(r.log_id for r in stored) == sorted(r.log_id for r in records)


async def test_the_backlog_is_bounded_while_postgres_is_down(tmp_path):
    if find_postgres() is None:
        pytest.skip("PostgreSQL is not installed")
    with postgres_server() as server:
        url = server.dsn
    logger = aigw_postgres.PostgresLogger(Secret(url), flush_interval=0.01, max_backlog=50, batch_size=10, close_timeout=0.2)
    await logger.start()  # unreachable: starts anyway
    for _ in range(200):
        logger.log(record())
    # At most max_backlog waiting, plus what the writer took before it found PostgreSQL gone
    # (it takes the whole backlog at once, so at most max_backlog more).
    assert logger.stats.accepted <= 2 * 50
    assert logger.stats.dropped == 200 - logger.stats.accepted
    await logger.close()  # gives up after close_timeout, saying how many were lost


def test_aigw_logs_lists_and_shows_logs_from_postgres(postgres_proc, tmp_path):
    import asyncio

    async def fill():
        conn = await asyncpg.connect(postgres_proc.dsn)
        await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
        await conn.close()
        logger = aigw_postgres.PostgresLogger(Secret(postgres_proc.dsn))
        await logger.start()
        for r in records:
            logger.log(r)
        await logger.close()

    records = mixed_records()
    asyncio.run(fill())
    path = tmp_path / "aigw.toml"
    path.write_text(to_toml({"data_dir": str(tmp_path / "data"), "logs": {"stores": ["postgres"]},
                             "plugins": {"postgres": {"dsn": postgres_proc.dsn}}}))  # fmt: skip
    listed = CliRunner().invoke(cli, ["logs", "--config", str(path), "--provider", "anthropic"])
    assert listed.exit_code == 0, listed.output
    assert records[1].log_id in listed.output and records[0].log_id not in listed.output
    shown = CliRunner().invoke(cli, ["logs", "--config", str(path), "show", records[3].log_id])
    assert shown.exit_code == 0, shown.output
    assert '"q": 1' in shown.output


async def test_a_fallback_requests_attempts_round_trip_through_postgres_as_through_sqlite(postgres_proc, aigw_gateway_factory):
    from aigw.builtins.sqlite_log_query import SqliteLogReader
    from aigw.client import UniversalClient

    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
    finally:
        await conn.close()
    steps = [
        {"provider": "openai", "endpoint": "chat/completions", "config": {"maxAttempts": 2, "retryDelay": 1},
         "query": {"model": "sim-fail-500-x2", "messages": [{"role": "user", "content": "hi"}]}},
        {"provider": "anthropic", "endpoint": "v1/messages",
         "query": {"model": "claude-sonnet-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}},
    ]  # fmt: skip
    stores = {"logs": {"stores": ["postgres", "sqlite"]}, "plugins": {"postgres": {"dsn": postgres_proc.dsn}}}
    async with aigw_gateway_factory(**stores) as gw:
        async with UniversalClient(gw.url, token=gw.token) as client:
            result = await client.create(steps=steps)
    assert result.status == 200 and result.metadata["step"] == "1"
    log_id = result.metadata["logId"]
    reader = aigw_postgres.PostgresLogger(Secret(postgres_proc.dsn))
    try:
        from_postgres = await reader.get(log_id)
    finally:
        await reader.close()
    sqlite = SqliteLogReader(gw.log_db)
    try:
        from_sqlite = sqlite.get(log_id)
    finally:
        sqlite.close()
    assert [(a.step, a.attempt, a.provider, a.status) for a in from_postgres.attempts] == [
        (0, 1, "openai", 500),
        (0, 2, "openai", 500),
        (1, 1, "anthropic", 200),
    ]
    assert dataclasses.asdict(from_postgres) == dataclasses.asdict(from_sqlite)


async def test_a_version_1_store_is_migrated_keeping_its_rows(postgres_proc):
    from aigw_postgres.schema import MIGRATIONS, SCHEMA_VERSION

    old = record()
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
        await conn.execute(MIGRATIONS[0])
        await conn.execute("CREATE TABLE aigw_schema (component text PRIMARY KEY, version integer NOT NULL)")
        await conn.execute("INSERT INTO aigw_schema VALUES ('logs', 1)")
        await conn.execute(
            "INSERT INTO aigw_logs (log_id, created_at, gateway, request_type, status, success, cache_status, stream,"
            " cancelled, duration_ms) VALUES ($1, $2, 'default', 'universal', 200, true, 'MISS', false, false, 1.5)",
            old.log_id, old.created_at,
        )  # fmt: skip
    finally:
        await conn.close()
    logger = aigw_postgres.PostgresLogger(Secret(postgres_proc.dsn), flush_interval=0.01)
    await logger.start()
    try:
        new = record(attempts=[Attempt(0, 1, "openai", "gpt-4o-mini", 200, None, 3.0)])
        logger.log(dataclasses.replace(new))
        await logger.flush()
        assert (await logger.get(old.log_id)).attempts == []
        assert (await logger.get(new.log_id)).attempts == new.attempts
    finally:
        await logger.close()
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        assert await conn.fetchval("SELECT version FROM aigw_schema WHERE component = 'logs'") == SCHEMA_VERSION == 3
    finally:
        await conn.close()


async def test_the_logs_api_patches_and_deletes_postgres_logs(postgres_proc, aigw_gateway_factory):
    import aiohttp
    import orjson

    from aigw.client import UniversalClient

    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
    finally:
        await conn.close()

    def chat(provider: str, endpoint: str, model: str) -> dict:
        query = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
        return {"provider": provider, "endpoint": endpoint, "query": query}

    async def call(method: str, url: str, **kw) -> tuple[int, dict]:
        async with aiohttp.ClientSession() as session, session.request(method, url, headers=gw.headers, **kw) as resp:
            return resp.status, orjson.loads(await resp.read())

    stores = {"logs": {"stores": ["postgres"]}, "plugins": {"postgres": {"dsn": postgres_proc.dsn}}}
    async with aigw_gateway_factory(**stores) as gw:
        async with UniversalClient(gw.url, token=gw.token) as client:
            first = await client.create(steps=[chat("openai", "chat/completions", "gpt-4o-mini")])
            await client.create(steps=[chat("anthropic", "v1/messages", "claude-sonnet-4-5")])
        await gw.gateway.log_store.flush()
        url = f"http://127.0.0.1:{gw.port}/v1/acct/default/logs"
        target = first.metadata["logId"]
        status, patched = await call("PATCH", f"{url}/{target}", data=orjson.dumps({"feedback": 1, "score": 70}))
        _, liked = await call("GET", url + "?feedback=1")
        deleted_status, deleted = await call("DELETE", url + "?provider=anthropic")
        _, left = await call("GET", url)
    assert status == 200 and (patched["result"]["feedback"], patched["result"]["score"]) == (1, 70)
    assert [r["id"] for r in liked["result"]] == [target]
    assert deleted_status == 200 and [r["id"] for r in left["result"]] == [target]
