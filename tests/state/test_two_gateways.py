"""Two `aigw serve` processes (separate ports, as two machines would be) sharing one Redis, one
data directory and one PostgreSQL: limits are exact across both, a response cached through one
is a HIT through the other, a revoked token's connections close on both, and every request of
a run is logged once in PostgreSQL even when one process is stopped with SIGTERM mid-run."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import websockets
from click.testing import CliRunner

from aigw.auth import TokenStore
from aigw.cli import cli
from aigw.client import GatewayError, UniversalClient
from aigw.config import load_settings
from aigw.testing.gateway import gateway_config, to_toml
from aigw.testing.servers import free_port
from gateway_processes import Served

pytest.importorskip("aigw_redis", reason="aigw-redis is not installed (pip install ./plugins/aigw-redis)")
pytestmark = pytest.mark.timeout(90)

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def two_gateways(tmp_path, aigw_simulators_session):
    """`start(**config)` → (a, b, token): two gateways on one config and data dir."""
    started: list[Served] = []

    def start(**config):
        data = tmp_path / "data"
        doc = gateway_config(aigw_simulators_session, data, **config)
        path = tmp_path / "aigw.toml"
        path.write_text(to_toml(doc))
        store = TokenStore.for_settings(load_settings(path, environ={}))
        try:
            token, info = store.create("two-gateways")
        finally:
            store.close()
        pair = [Served(path, free_port()), Served(path, free_port())]
        started.extend(pair)
        for served in pair:
            served.wait_listening()
        return pair[0], pair[1], token, info, path

    yield start
    for served in started:
        served.terminate()
    for served in started:
        served.wait()


def error_code(result) -> int | None:
    """The gateway error code of a refused request (Cloudflare's error body)."""
    errors = (result.response or {}).get("errors") or [{}]
    return errors[0].get("code")


def redis_config(redis_proc, **gateway):
    return {
        "cache": {"backend": "redis"},
        "rate_limit": {"backend": "redis"},
        "plugins": {"redis": {"url": redis_proc.url, "key_prefix": f"t-{uuid.uuid4().hex}:"}},
        "gateways": {"default": gateway},
    }


async def test_a_limit_of_n_lets_exactly_n_through_across_both_processes(two_gateways, redis_proc):
    limit = 20
    a, b, token, _, _ = two_gateways(**redis_config(redis_proc, rate_limit={"limit": limit, "interval": 60, "technique": "fixed"}))
    clients = [UniversalClient(gw.url(), token=token) for gw in (a, a, b, b)]

    async def one(client: UniversalClient) -> str:
        result = await client.create("openai", "chat/completions", BODY)
        if result.status == 200:
            return "ok"
        return f"refused {result.status} {error_code(result)}"

    try:
        outcomes = await asyncio.gather(*(one(clients[i % 4]) for i in range(60)))
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert outcomes.count("ok") == limit
    assert outcomes.count("refused 429 2003") == 60 - limit


async def test_a_response_cached_through_one_process_is_a_hit_through_the_other(two_gateways, redis_proc, aigw_simulators_session):
    import redis.asyncio as aioredis

    config = redis_config(redis_proc, cache_ttl=60)
    a, b, token, _, _ = two_gateways(**config)
    body = {**BODY, "messages": [{"role": "user", "content": f"cache me {uuid.uuid4().hex}"}]}
    async with UniversalClient(a.url(), token=token) as via_a, UniversalClient(b.url(), token=token) as via_b:
        first = await via_a.create("openai", "chat/completions", body)
        # The pipeline answers first and stores after: wait for a's entry to reach Redis.
        client = aioredis.Redis.from_url(redis_proc.url)
        try:
            for _ in range(100):
                if await client.keys(config["plugins"]["redis"]["key_prefix"] + "cache:*"):
                    break
                await asyncio.sleep(0.01)
        finally:
            await client.aclose()
        second = await via_b.create("openai", "chat/completions", body)
    assert (first.metadata["cacheStatus"], second.metadata["cacheStatus"]) == ("MISS", "HIT")
    assert second.response == first.response


async def test_a_revoked_token_has_its_connections_closed_on_both_processes(two_gateways, redis_proc):
    a, b, token, info, path = two_gateways(plugins={"tokens": {"sync_interval": 0.2}})
    headers = {"cf-aig-authorization": f"Bearer {token}"}
    async with websockets.connect(a.url(), additional_headers=headers) as ws_a, websockets.connect(b.url(), additional_headers=headers) as ws_b:
        revoked = CliRunner().invoke(cli, ["tokens", "revoke", "--config", str(path), info.id])
        assert revoked.exit_code == 0, revoked.output
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(ws_a.wait_closed(), ws_b.wait_closed()), 5)
        assert (ws_a.close_code, ws_b.close_code) == (1008, 1008)
        assert time.monotonic() - started < 2.0
    for gw in (a, b):
        with pytest.raises(websockets.InvalidStatus, match="401"):
            async with websockets.connect(gw.url(), additional_headers=headers):
                pass


async def test_every_request_is_logged_once_in_postgres_across_a_sigterm_of_one_process(two_gateways, postgres_proc):
    asyncpg = pytest.importorskip("asyncpg")
    pytest.importorskip("aigw_postgres", reason="aigw-postgres is not installed (pip install ./plugins/aigw-postgres)")
    conn = await asyncpg.connect(postgres_proc.dsn)
    await conn.execute("DROP TABLE IF EXISTS aigw_logs, aigw_log_bodies, aigw_schema")
    await conn.close()
    a, b, token, _, _ = two_gateways(logs={"stores": ["postgres"]}, plugins={"postgres": {"dsn": postgres_proc.dsn}})
    total, answered, attempts, served_by = 500, {}, [0], {"a": 0, "b": 0}
    clients = {"a": UniversalClient(a.url(), token=token), "b": UniversalClient(b.url(), token=token)}
    a_down = asyncio.Event()

    async def one(i: int) -> None:
        target = "a" if i % 2 == 0 and not a_down.is_set() else "b"
        while True:
            attempts[0] += 1
            try:
                result = await clients[target].create("openai", "chat/completions", BODY, headers={"cf-aig-metadata": f'{{"i": {i}}}'})
            except (GatewayError, OSError):
                if target == "b":
                    raise
                target = "b"  # a is going away: the load balancer would send it elsewhere
                continue
            answered[i] = result.metadata["logId"]
            served_by[target] += 1
            if len(answered) == total // 3 and not a_down.is_set():
                a_down.set()
                a.terminate()  # graceful: in-flight requests finish, their logs are written
            return

    sem = asyncio.Semaphore(16)

    async def limited(i: int) -> None:
        async with sem:
            await one(i)

    try:
        await asyncio.gather(*(limited(i) for i in range(total)))
    finally:
        await asyncio.gather(*(c.close() for c in clients.values()))
    assert served_by["a"] >= total // 6 and served_by["b"] >= total // 2  # both took part, b after a stopped
    assert a.wait() == 0  # stopped cleanly, having written its logs
    b.terminate()
    assert b.wait() == 0
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        rows = await conn.fetch("SELECT log_id, success, (metadata->>'i')::int AS i FROM aigw_logs")
    finally:
        await conn.close()
    stored = {r["log_id"] for r in rows}
    assert set(answered.values()) <= stored  # none of the answered requests lost
    successes = sorted(r["i"] for r in rows if r["success"])
    assert successes == list(range(total))  # each request stored once as answered
    assert len(rows) <= attempts[0]


async def test_workers_sharing_a_port_keep_one_exact_limit_with_redis(tmp_path, aigw_simulators_session, redis_proc, clear_of_window_edge):
    limit = 15
    doc = gateway_config(aigw_simulators_session, tmp_path / "data",
                         **redis_config(redis_proc, rate_limit={"limit": limit, "interval": 60, "technique": "fixed"}))  # fmt: skip
    path = tmp_path / "aigw.toml"
    path.write_text(to_toml(doc))
    store = TokenStore.for_settings(load_settings(path, environ={}))
    try:
        token, _ = store.create("workers")
    finally:
        store.close()
    served = Served(path, free_port(), extra=["--workers", "2"])
    try:
        served.wait_listening(count=2)
        assert not any("per process" in line for line in served.lines)  # shared backends: no warning
        clients = [UniversalClient(served.url(), token=token) for _ in range(6)]  # connections spread over both workers
        await clear_of_window_edge(60)  # all 45 in one fixed window
        try:
            results = await asyncio.gather(*(clients[i % 6].create("openai", "chat/completions", BODY) for i in range(45)))
        finally:
            await asyncio.gather(*(c.close() for c in clients))
    finally:
        served.terminate()
        assert served.wait() == 0
    statuses = [r.status for r in results]
    assert statuses.count(200) == limit and statuses.count(429) == 45 - limit
