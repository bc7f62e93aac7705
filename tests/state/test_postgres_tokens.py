"""Auth tokens shared through PostgreSQL (aigw-postgres's `postgres` auth backend): two `aigw
serve` processes with separate data directories, as two machines, sharing only PostgreSQL. A
token created through one machine's `aigw tokens` works on both within the sync interval, over
the WebSocket and HTTP; one revoked there is refused by both and its open connections are
closed with 1008 on both."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
import websockets
from click.testing import CliRunner

from aigw.cli import cli
from aigw.client import UniversalClient
from aigw.testing.servers import free_port
from gateway_processes import Served, write_config

aigw_postgres = pytest.importorskip("aigw_postgres", reason="aigw-postgres is not installed (pip install ./plugins/aigw-postgres)")
asyncpg = pytest.importorskip("asyncpg")
pytestmark = pytest.mark.timeout(60)

SYNC = 0.2
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
async def two_machines(tmp_path, aigw_simulators_session, postgres_proc):
    """Two gateways, each with its own config and data dir, tokens in PostgreSQL: yields
    ((a, a's config), (b, b's config))."""
    conn = await asyncpg.connect(postgres_proc.dsn)
    try:
        await conn.execute("DROP TABLE IF EXISTS aigw_auth_tokens, aigw_auth_tokens_version, aigw_logs, aigw_log_bodies, aigw_schema")
    finally:
        await conn.close()
    config = {"auth": {"backends": ["postgres"]}, "logs": {"stores": ["sqlite"]}, "plugins": {"postgres": {"dsn": postgres_proc.dsn, "token_sync_interval": SYNC}}}
    paths = [write_config(aigw_simulators_session, tmp_path / name, **config) for name in ("machine-a", "machine-b")]
    served = [Served(path, free_port()) for path in paths]
    try:
        for gw in served:
            gw.wait_listening()
        assert not any("first auth token" in line for gw in served for line in gw.lines)  # none made in aigw.db
        yield (served[0], paths[0]), (served[1], paths[1])
    finally:
        for gw in served:
            gw.terminate()
        for gw in served:
            assert gw.wait() == 0, "".join(gw.lines)


async def tokens_cli(*args: str) -> str:
    """`aigw tokens ARGS` (in a thread: the command runs its own event loop); its stdout."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["tokens", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


async def answers(url: str, token: str) -> bool:
    """Whether the gateway at `url` accepts `token` (the upgrade is refused with 401 if not)."""
    try:
        async with UniversalClient(url, token=token) as client:
            return (await client.create("openai", "chat/completions", BODY)).status == 200
    except websockets.InvalidStatus as exc:
        assert exc.response.status_code == 401
        return False


async def http_status(gw: Served, token: str) -> int:
    """The status of one chat request to `gw`'s OpenAI provider route carrying `token` (the
    gateway's door enters it without an await: the backend answers from memory)."""
    url = gw.url().replace("ws://", "http://", 1) + "/openai/chat/completions"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json=BODY, headers={"cf-aig-authorization": f"Bearer {token}"}) as response:
            return response.status


async def test_a_token_created_on_one_machine_works_on_both(two_machines):
    (a, a_config), (b, _) = two_machines
    token = (await tokens_cli("create", "--config", str(a_config), "--name", "shared")).strip()
    await asyncio.sleep(SYNC * 3)  # one sync interval, with room for a loaded machine
    assert await answers(a.url(), token) and await answers(b.url(), token)
    assert not await answers(b.url(), token[:-1] + ("x" if token[-1] != "x" else "y"))
    assert [await http_status(gw, token) for gw in (a, b, b)] == [200, 200, 200]


async def test_a_token_revoked_on_one_machine_has_its_connections_closed_on_both(two_machines):
    (a, a_config), (b, b_config) = two_machines
    token = (await tokens_cli("create", "--config", str(a_config))).strip()
    token_id = [line.split()[0] for line in (await tokens_cli("list", "--config", str(b_config))).splitlines()[1:]][0]
    await asyncio.sleep(SYNC * 3)
    headers = {"cf-aig-authorization": f"Bearer {token}"}
    async with websockets.connect(a.url(), additional_headers=headers) as ws_a, websockets.connect(b.url(), additional_headers=headers) as ws_b:
        await tokens_cli("revoke", "--config", str(b_config), token_id)
        started = time.monotonic()
        await asyncio.wait_for(asyncio.gather(ws_a.wait_closed(), ws_b.wait_closed()), 5)
        assert (ws_a.close_code, ws_b.close_code) == (1008, 1008)
        assert time.monotonic() - started < SYNC + 1.5
    assert not await answers(a.url(), token) and not await answers(b.url(), token)
    assert [await http_status(gw, token) for gw in (a, b)] == [401, 401]
    assert "revoked" in await tokens_cli("list", "--config", str(a_config))
