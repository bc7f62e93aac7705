"""The nginx configuration of docs/deploy.md, run for real: nginx (Debian's package) in front of
two `aigw serve` processes that share Redis and nothing else (separate data directories, as two
machines), TLS with a test CA. The Universal WebSocket API and /health go through it, new
connections reach both gateways, and no stickiness is needed.

The config is read from the document itself, so the document cannot drift from what is
tested: only the addresses, the certificate paths and the listen port are replaced."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil
import pytest

from aigw.builtins.sqlite_log_query import SqliteLogReader
from aigw.client import UniversalClient
from aigw.log_query import LogQuery
from aigw.testing.gateway import ACCOUNT_ID
from aigw.testing.servers import free_port
from gateway_processes import Served, write_config

trustme = pytest.importorskip("trustme")
pytest.importorskip("aigw_redis", reason="aigw-redis is not installed (pip install ./plugins/aigw-redis)")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
pytestmark = [
    pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install -y nginx)"),
    pytest.mark.timeout(60),
]

DEPLOY_MD = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
TOKEN = "nginx-test-" + uuid.uuid4().hex
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "through nginx"}]}


def documented_nginx_config() -> str:
    """The one ```nginx block of docs/deploy.md."""
    (block,) = re.findall(r"```nginx\n(.*?)```", DEPLOY_MD.read_text(), re.S)
    return block


def replace_once(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"docs/deploy.md's nginx config no longer has {old!r} once"
    return text.replace(old, new)


def nginx_conf(tmp: Path, port: int, backends: list[int]) -> str:
    """docs/deploy.md's config with test addresses, wrapped in a complete nginx.conf."""
    site = documented_nginx_config()
    site = replace_once(site, "server 10.0.0.11:8787", f"server 127.0.0.1:{backends[0]}")
    site = replace_once(site, "server 10.0.0.12:8787", f"server 127.0.0.1:{backends[1]}")
    site = replace_once(site, "listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
    site = site.replace("/etc/ssl/", f"{tmp}/")
    user = "user root;" if os.geteuid() == 0 else ""
    temp_paths = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
{user}
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
{temp_paths}
{site}
}}
"""


@dataclass
class Deployment:
    host: str  # localhost:PORT of nginx
    ssl: ssl.SSLContext  # trusts nginx's test certificate
    data_dirs: list[Path]  # each gateway's
    backend_ports: list[int]
    nginx_pid: int


@pytest.fixture
def behind_nginx(tmp_path, aigw_simulators_session, redis_proc):
    """Two gateways (own data dirs, shared Redis) behind nginx: yields a Deployment."""
    prefix = f"nginx-{uuid.uuid4().hex}:"
    config = {
        "tokens": [TOKEN],
        "cache": {"backend": "redis"},
        "rate_limit": {"backend": "redis"},
        "plugins": {"redis": {"url": redis_proc.url, "key_prefix": prefix}},
    }
    machines = [tmp_path / "machine-a", tmp_path / "machine-b"]
    gateways = [Served(write_config(aigw_simulators_session, m, **config), free_port()) for m in machines]
    proc = None
    try:
        for gw in gateways:
            gw.wait_listening()
        tmp = tmp_path / "nginx"
        tmp.mkdir()
        ca = trustme.CA()
        cert = ca.issue_cert("localhost")
        cert.private_key_pem.write_to_path(str(tmp / "gateway.key"))
        cert.cert_chain_pems[0].write_to_path(str(tmp / "gateway.pem"))
        context = ssl.create_default_context()
        ca.configure_trust(context)
        port = free_port()
        (tmp / "nginx.conf").write_text(nginx_conf(tmp, port, [gw.port for gw in gateways]))
        proc = subprocess.Popen([NGINX, "-p", str(tmp), "-c", str(tmp / "nginx.conf")], stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"nginx did not start: {proc.stderr.read().decode(errors='replace')}")
                time.sleep(0.05)
        yield Deployment(f"localhost:{port}", context, [m / "data" for m in machines], [gw.port for gw in gateways], proc.pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        for gw in gateways:
            gw.terminate()
        for gw in gateways:
            gw.wait()


async def logged_per_gateway(data_dirs: list[Path], total: int) -> list[int]:
    """How many requests each gateway logged, once `total` are logged (they write in batches)."""
    deadline = time.monotonic() + 5
    while True:
        counts = []
        for d in data_dirs:
            reader = SqliteLogReader(d / "logs.db")
            try:
                counts.append(reader.count(LogQuery()))
            finally:
                reader.close()
        if sum(counts) >= total or time.monotonic() > deadline:
            assert sum(counts) == total, counts
            return counts
        await asyncio.sleep(0.05)


async def test_the_universal_websocket_api_works_through_nginx_and_reaches_both_gateways(behind_nginx):
    url = f"wss://{behind_nginx.host}/v1/{ACCOUNT_ID}/default"
    # Each client is one WebSocket connection: nginx spreads new connections over the gateways.
    clients = [UniversalClient(url, token=TOKEN, ssl=behind_nginx.ssl) for _ in range(4)]
    try:
        answers = await asyncio.gather(*(clients[i % 4].create("openai", "chat/completions", BODY) for i in range(12)))
        chunks = [c async for c in clients[0].stream("openai", "chat/completions", {**BODY, "stream": True})]
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    assert [a.status for a in answers] == [200] * 12
    assert all(a.response["choices"][0]["message"]["content"] for a in answers)
    assert len(chunks) > 1  # streamed through nginx as it came (proxy_buffering off)
    served = await logged_per_gateway(behind_nginx.data_dirs, total=13)
    assert all(n > 0 for n in served), served


async def test_health_checks_go_through_nginx(behind_nginx):
    async with aiohttp.ClientSession() as session:
        for _ in range(4):  # round robin: both gateways answer
            async with session.get(f"https://{behind_nginx.host}/health", ssl=behind_nginx.ssl) as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "ok"  # plus backlog and plugins (observability.md)


def open_upstream_connections(deployment: Deployment) -> int:
    """nginx's established TCP connections to the gateways."""
    workers = psutil.Process(deployment.nginx_pid).children()
    return sum(
        1
        for worker in workers
        for conn in worker.net_connections(kind="tcp")
        if conn.status == psutil.CONN_ESTABLISHED and conn.raddr and conn.raddr.port in deployment.backend_ports
    )


async def test_nginx_keeps_its_connections_to_the_gateways_open_between_http_requests(behind_nginx):
    async with aiohttp.ClientSession() as session:
        for _ in range(6):
            async with session.get(f"https://{behind_nginx.host}/health", ssl=behind_nginx.ssl) as resp:
                assert resp.status == 200
    # keepalive in the upstream block only works when nginx does not send "Connection: close"
    # to the gateway: a request without Upgrade must map to an empty Connection header.
    assert open_upstream_connections(behind_nginx) >= 1
