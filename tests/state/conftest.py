"""Real Redis and PostgreSQL for the shared-state tests (aigw.testing.servers), one of each per
session, skipped with the reason when the Debian packages are not installed."""

from __future__ import annotations

import pytest

from aigw.testing.servers import find_postgres, find_redis, postgres_server, redis_server



@pytest.fixture(scope="session")
def redis_proc(tmp_path_factory):
    """A redis-server for the session (RedisProcess: .url, .stop(), .start())."""
    if find_redis() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres_proc(tmp_path_factory):
    """A PostgreSQL server for the session (PostgresProcess: .dsn)."""
    if find_postgres() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    with postgres_server() as server:  # under /tmp: the postgres user must reach it
        yield server
