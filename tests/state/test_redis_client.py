"""aigw-redis's own pipelined client: RESP bytes out, replies matched in order, one connection
for every concurrent command, a timeout without a timer per command, reconnects after a loss,
AUTH and SELECT from the URL, and never the password in an error."""

from __future__ import annotations

import asyncio
import time

import pytest

from aigw.testing.servers import find_redis

aigw_redis = pytest.importorskip("aigw_redis", reason="aigw-redis is not installed (pip install ./plugins/aigw-redis)")
from aigw_redis.client import RedisClient  # noqa: E402
from aigw_redis.resp import RedisConnectionError, RedisReplyError, pack_command, parse_url  # noqa: E402

needs_redis = pytest.mark.skipif(find_redis() is None, reason="redis-server is not installed (apt-get install redis-server)")


# ---- sans-I/O ----------------------------------------------------------------------------------


def test_a_command_is_an_array_of_bulk_strings():
    assert pack_command("SET", "k", b"v\r\n", "PX", 250) == b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$2\r\nPX\r\n$3\r\n250\r\n"


def test_a_bool_argument_is_refused_rather_than_sent_as_true():
    with pytest.raises(TypeError):
        pack_command("SET", "k", True)


def test_url_forms():
    a = parse_url("rediss://user:p%40ss@cache.internal:6380/3")
    assert (a.host, a.port, a.tls, a.db, a.username, a.password) == ("cache.internal", 6380, True, 3, "user", "p@ss")
    assert a.login_commands() == [("AUTH", "user", "p@ss"), ("SELECT", "3")]
    u = parse_url("unix://:secret@/run/redis.sock?db=2")
    assert (u.path, u.db, u.password, u.where) == ("/run/redis.sock", 2, "secret", "/run/redis.sock")
    assert parse_url("redis://127.0.0.1").login_commands() == []


def test_a_bad_url_is_refused_without_echoing_the_password():
    with pytest.raises(ValueError) as info:
        parse_url("redis://:hunter2@host:notaport/0")
    assert "hunter2" not in str(info.value)


# ---- against a real redis-server -------------------------------------------------------------


@needs_redis
async def test_concurrent_commands_share_one_connection_and_each_gets_its_own_reply(redis_proc):
    client = RedisClient(redis_proc.url)
    await asyncio.gather(*(client.execute("SET", f"client-test:{i}", i) for i in range(200)))
    connection = client._protocol
    values = await asyncio.gather(*(client.execute("GET", f"client-test:{i}") for i in range(200)))
    assert values == [str(i).encode() for i in range(200)]
    assert client._protocol is connection and connection.usable
    await client.aclose()


@needs_redis
async def test_an_error_reply_fails_only_its_own_command(redis_proc):
    client = RedisClient(redis_proc.url)
    await client.execute("SET", "client-test:str", "x")
    results = await asyncio.gather(
        client.execute("INCR", "client-test:str"), client.execute("GET", "client-test:str"), return_exceptions=True
    )
    assert isinstance(results[0], RedisReplyError) and results[1] == b"x"
    await client.aclose()


@needs_redis
async def test_a_script_unknown_to_redis_falls_back_to_eval(redis_proc):
    client = RedisClient(redis_proc.url)
    await client.execute("SCRIPT", "FLUSH")
    script = client.script("return tonumber(ARGV[1]) + 1")
    assert await script(keys=[], args=[41]) == 42
    assert await script(keys=[], args=[1]) == 2  # now by EVALSHA
    await client.aclose()


@needs_redis
async def test_auth_and_select_come_from_the_url(tmp_path):
    from aigw.testing.servers import redis_server

    with redis_server(tmp_path) as server:
        admin = RedisClient(server.url)
        await admin.execute("CONFIG", "SET", "requirepass", "s3cret")
        await admin.aclose()
        base = server.url.split("://", 1)[1].split("/", 1)[0]
        good = RedisClient(f"redis://:s3cret@{base}/4")
        await good.execute("SET", "k", "in-db-4")
        assert await good.execute("CLIENT", "INFO") and (await good.execute("GET", "k")) == b"in-db-4"
        await good.aclose()
        bad = RedisClient(f"redis://:wrong-password@{base}/0")
        with pytest.raises(RedisReplyError) as info:
            await bad.ping()
        assert "wrong-password" not in str(info.value)
        await bad.aclose()


async def test_a_redis_that_never_answers_times_out_every_waiting_command_and_drops_the_connection():
    accepted = []

    async def silent(reader, writer):
        accepted.append(writer)
        await reader.read()  # reads, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisClient(f"redis://127.0.0.1:{port}", timeout=0.2)
    started = time.monotonic()
    results = await asyncio.gather(*(client.execute("GET", "k") for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results)
    assert 0.19 <= time.monotonic() - started < 1.0
    assert not client._protocol.usable  # the next command opens a new connection
    await client.aclose()
    server.close()
    for w in accepted:
        w.close()


async def test_a_lost_connection_fails_its_commands_and_the_next_command_reconnects():
    connections = 0

    async def answer_once_then_hang_up(reader, writer):
        nonlocal connections
        connections += 1
        await reader.readuntil(b"PING\r\n")
        if connections == 1:
            writer.close()  # lost with PING outstanding
            return
        writer.write(b"+PONG\r\n")
        await writer.drain()

    server = await asyncio.start_server(answer_once_then_hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = RedisClient(f"redis://127.0.0.1:{port}", timeout=1.0)
    with pytest.raises(RedisConnectionError):
        await client.ping()
    assert await client.execute("PING") == b"PONG"
    assert connections == 2
    await client.aclose()
    server.close()


async def test_nothing_listening_is_a_connection_error_naming_host_and_port_only():
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    client = RedisClient(f"redis://:topsecret@127.0.0.1:{port}/0", timeout=0.5)
    with pytest.raises(RedisConnectionError) as info:
        await client.ping()
    assert f"127.0.0.1:{port}" in str(info.value) and "topsecret" not in str(info.value)
