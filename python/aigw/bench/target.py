"""Where `aigw bench` sends its load: a simulated setup it starts itself, or a real URL.

`SimulatedTarget` (the default, offline) starts the fast bench upstream (`aigw.bench.upstream`)
and an `aigw serve` pointed at it, each in its own process (`in_process=True` runs both on the
caller's loop, for tests: quicker, but no gateway CPU figure). The gateway has authentication
on (a token from its config), SQLite logs on, and serves TLS when asked, with a throw-away
self-signed certificate the load client trusts. `gateway_cpu()` reads the gateway process's
user+system CPU seconds (psutil) so the report can divide by the requests it served, and
`upstream_requests()` asks the upstream how many chat requests it answered.

`RemoteTarget` is any aigw gateway (`--url http(s)://host:port`, both surfaces) or any
OpenAI-compatible chat completions URL (`--openai-url`, HTTP surfaces only).
"""

from __future__ import annotations

import asyncio
import datetime
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from aigw.bench.upstream import STATS_PATH, start_upstream
from aigw.bench.workload import Endpoints

__all__ = ["RemoteTarget", "SimulatedTarget", "aigw_endpoints", "self_signed_cert"]

ACCOUNT = "bench"
GATEWAY = "default"


def aigw_endpoints(base: str, account: str, gateway: str, provider: str, headers: dict[str, str], context: ssl.SSLContext | None) -> Endpoints:
    """Both surfaces of an aigw gateway at `base` (http(s)://host:port)."""
    base = base.rstrip("/")
    ws = "ws" + base[len("http"):] if base.startswith("http") else base
    return Endpoints(
        ws_url=f"{ws}/v1/{account}/{gateway}",
        http_url=f"{base}/v1/{account}/{gateway}/{provider}/chat/completions",
        headers=headers,
        ssl_context=context,
    )


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throw-away certificate for 127.0.0.1/localhost and its key (needs `cryptography`)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        raise RuntimeError("--tls with --simulate needs the 'cryptography' package: pip install cryptography") from None
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "aigw bench")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child_env() -> dict[str, str]:
    """The environment of the child processes: no AIGW_* override of the generated config,
    except the plugin switches (which plugins a broken install can load)."""
    keep = ("AIGW_DISABLE_PLUGINS", "AIGW_PLUGINS")
    return {k: v for k, v in os.environ.items() if not k.startswith("AIGW_") or k in keep}


class SimulatedTarget:
    """The bench upstream plus an aigw gateway in front of it (see the module docstring)."""

    def __init__(self, *, tls: bool = False, in_process: bool = False, concurrency: int = 256, provider: str = "openai") -> None:
        self.tls = tls
        self.in_process = in_process
        self.concurrency = concurrency
        self.provider = provider
        self.token = "aigw-bench-" + secrets.token_urlsafe(16)
        self.dir = Path(tempfile.mkdtemp(prefix="aigw-bench-"))
        self.context: ssl.SSLContext | None = None
        self.gateway_port = 0
        self.upstream_port = 0
        self.gateway_pid: int | None = None
        self._procs: list[subprocess.Popen] = []
        self._upstream: Any = None
        self._counter: list[int] | None = None
        self._gateway: Any = None

    @property
    def scheme(self) -> str:
        """"https" when the gateway serves TLS, else "http"."""
        return "https" if self.tls else "http"

    @property
    def base_url(self) -> str:
        """The gateway's base URL (http(s)://127.0.0.1:PORT)."""
        return f"{self.scheme}://127.0.0.1:{self.gateway_port}"

    def endpoints(self) -> Endpoints:
        """The gateway's Universal WebSocket and provider route URLs, with its token."""
        headers = {"cf-aig-authorization": f"Bearer {self.token}"}
        return aigw_endpoints(self.base_url, ACCOUNT, GATEWAY, self.provider, headers, self.context)

    def describe(self) -> str:
        """One line for the report header."""
        where = "in this process" if self.in_process else f"pid {self.gateway_pid}"
        return f"simulated: aigw ({where}, {self.base_url}) -> bench upstream (127.0.0.1:{self.upstream_port})"

    def _config(self) -> Path:
        lines = [
            f'data_dir = "{self.dir / "data"}"',
            f'tokens = ["{self.token}"]',
            "[server]",
            'host = "127.0.0.1"',
            f"port = {self.gateway_port or 8787}",  # in process: serve(port=0) picks one
            f"max_inflight_per_connection = {max(256, self.concurrency)}",
            "idle_timeout = 0",
        ]
        if self.tls:
            cert, key = self_signed_cert(self.dir)
            lines += [f'tls_cert = "{cert}"', f'tls_key = "{key}"']
            self.context = ssl.create_default_context(cafile=str(cert))
        lines += [
            "[upstream]",
            f"pool_size_per_host = {min(4096, max(64, self.concurrency))}",
            f"max_connections_per_client = {min(4096, max(64, self.concurrency))}",
            f"[providers.{self.provider}]",
            f'base_url = "http://127.0.0.1:{self.upstream_port}/v1"',
            'key = "sk-bench"',
        ]
        path = self.dir / "aigw.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    async def __aenter__(self) -> "SimulatedTarget":
        try:
            if self.in_process:
                await self._start_in_process()
            else:
                await self._start_processes()
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def _start_in_process(self) -> None:
        from aigw.config import load_settings
        from aigw.gateway import Gateway

        if self.tls:
            raise RuntimeError("--tls needs the gateway in its own process")
        self._upstream, self._counter = await start_upstream()
        self.upstream_port = self._upstream.sockets[0].getsockname()[1]
        settings = load_settings(self._config(), environ={})
        self._gateway = Gateway(settings)
        server = await self._gateway.serve(port=0)
        self.gateway_port = server.port

    async def _start_processes(self) -> None:
        env = _child_env()
        log = open(self.dir / "upstream.log", "wb")
        up = subprocess.Popen(
            [sys.executable, "-m", "aigw.bench.upstream", "--port", "0"], stdout=subprocess.PIPE, stderr=log, env=env
        )
        self._procs.append(up)
        assert up.stdout is not None
        line = await asyncio.to_thread(up.stdout.readline)
        if not line.startswith(b"listening on "):
            raise RuntimeError(f"the bench upstream did not start: {(self.dir / 'upstream.log').read_text()[-2000:]}")
        self.upstream_port = int(line.rsplit(b":", 1)[1])
        self.gateway_port = _free_port()
        config = self._config()
        gw_log = open(self.dir / "gateway.log", "wb")
        gw = subprocess.Popen(
            [sys.executable, "-m", "aigw", "--log-level", "warning", "serve", "--config", str(config)],
            stdout=gw_log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
        self._procs.append(gw)
        self.gateway_pid = gw.pid
        await asyncio.to_thread(self._wait_healthy, gw)

    def _wait_healthy(self, proc: subprocess.Popen, timeout: float = 30.0) -> None:
        url = f"{self.base_url}/health"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"aigw serve exited ({proc.returncode}): {(self.dir / 'gateway.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=1, context=self.context) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"aigw serve did not answer {url} within {timeout:.0f} s")

    async def __aexit__(self, *exc: object) -> None:
        if self._gateway is not None:
            await self._gateway.stop(grace=1)
            self._gateway = None
        if self._upstream is not None:
            self._upstream.close()
            self._upstream = None
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    await asyncio.to_thread(proc.wait, 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self._procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)

    def gateway_cpu(self) -> float | None:
        """User+system CPU seconds the gateway process has used (None: not measurable here)."""
        if self.gateway_pid is None:
            return None
        try:
            import psutil
        except ImportError:
            return None
        times = psutil.Process(self.gateway_pid).cpu_times()
        return times.user + times.system

    async def upstream_requests(self) -> int:
        """How many chat requests the upstream has answered."""
        if self._counter is not None:
            return self._counter[0]
        url = f"http://127.0.0.1:{self.upstream_port}{STATS_PATH.decode()}"

        def get() -> int:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return int(orjson.loads(resp.read())["requests"])

        return await asyncio.to_thread(get)


class RemoteTarget:
    """A gateway or provider the user runs (no CPU figure, no upstream count)."""

    def __init__(self, endpoints: Endpoints, label: str) -> None:
        self._endpoints = endpoints
        self.label = label
        self.gateway_pid = None

    async def __aenter__(self) -> "RemoteTarget":
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def endpoints(self) -> Endpoints:
        """Where the load goes."""
        return self._endpoints

    def describe(self) -> str:
        """One line for the report header."""
        return self.label

    def gateway_cpu(self) -> float | None:
        """Not measurable: the gateway is not this machine's child."""
        return None

    async def upstream_requests(self) -> int | None:
        """Unknown for a real upstream."""
        return None
