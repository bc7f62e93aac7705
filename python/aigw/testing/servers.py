"""Real Redis and PostgreSQL servers for tests, from the system's packages, in temporary
directories on free loopback ports (as the nginx tests run nginx).

    with redis_server(tmp_dir) as url:          # "redis://127.0.0.1:PORT/0"
        ...
    with postgres_server(tmp_dir) as dsn:       # "postgresql://aigw@127.0.0.1:PORT/aigw"
        ...

`find_redis()` / `find_postgres()` say where the binaries are (None when absent: skip with
`ServerMissing.reason`). PostgreSQL refuses to run as root: as root, the data directory is
handed to the `postgres` system user (else `nobody`) and initdb and the server run as that
user, so the directory must be one that user can reach (the default, under the system temp
directory, is; pytest's `tmp_path`, private to root, is not). Both
servers are stopped, and their directories removed, when the block ends; `RedisProcess.stop()`
/ `.start()` restart Redis on the same port mid-test (for outage tests).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

__all__ = ["PostgresProcess", "RedisProcess", "find_postgres", "find_redis", "free_port", "postgres_server", "redis_server"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout} s")


def find_redis() -> str | None:
    """The redis-server binary (Debian: apt-get install redis-server), or None."""
    return shutil.which("redis-server") or shutil.which("valkey-server")


class RedisProcess:
    """One redis-server without persistence on a fixed port."""

    def __init__(self, binary: str, directory: Path, port: int) -> None:
        self.binary, self.directory, self.port = binary, directory, port
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it accepts connections."""
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no", "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        """Kill it at once (an outage, not a clean shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def redis_server(directory: Path | None = None) -> Iterator[RedisProcess]:
    """A running RedisProcess for the block (see the module docstring)."""
    binary = find_redis()
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="aigw-redis-", dir=directory) as tmp:
        server = RedisProcess(binary, Path(tmp), free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()


def find_postgres() -> Path | None:
    """The directory of PostgreSQL's server binaries (initdb, postgres), or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(Path(candidate) / "initdb", os.X_OK):
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresProcess:
    """One PostgreSQL cluster in a temporary directory; `dsn` connects as `aigw` to db `aigw`."""

    def __init__(self, bindir: Path, directory: Path, port: int) -> None:
        self.bindir, self.directory, self.port = bindir, directory, port
        self.proc: subprocess.Popen | None = None
        self._user: str | None = None
        if os.geteuid() == 0:
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                except KeyError:
                    continue
                self._user = name
                break

    @property
    def dsn(self) -> str:
        return f"postgresql://aigw@127.0.0.1:{self.port}/aigw"

    def _as_user(self) -> dict:
        """Popen arguments running the child as the unprivileged user (as root only)."""
        if not self._user:
            return {}
        entry = pwd.getpwnam(self._user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": [], "cwd": str(self.directory)}

    def start(self) -> None:
        """initdb (trust auth on loopback, no fsync: test data), start, create db `aigw`."""
        data = self.directory / "data"
        if self._user:
            entry = pwd.getpwnam(self._user)
            os.chown(self.directory, entry.pw_uid, entry.pw_gid)
        if not data.exists():
            made = subprocess.run(
                [str(self.bindir / "initdb"), "-D", str(data), "-U", "aigw", "--auth=trust", "-E", "UTF8",
                 "--no-sync", "--no-instructions"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False, **self._as_user(),
            )  # fmt: skip
            if made.returncode != 0:
                raise RuntimeError(f"initdb failed: {made.stderr.strip()}")
        self.proc = subprocess.Popen(
            [str(self.bindir / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1",
             "-k", str(self.directory), "-c", "fsync=off", "-c", "synchronous_commit=off",
             "-c", "full_page_writes=off", "-c", "max_connections=50"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **self._as_user(),
        )  # fmt: skip
        _wait_port(self.port, self.proc, "postgres")
        deadline = time.monotonic() + 20
        while True:  # the port opens before the server accepts logins
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "aigw", "-d", "postgres"],
                capture_output=True,
            )  # fmt: skip
            if ready.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not become ready")
            time.sleep(0.05)
        created = subprocess.run(
            [str(self.bindir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "aigw", "aigw"],
            capture_output=True, text=True,
        )  # fmt: skip
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"createdb failed: {created.stderr}")

    def stop(self, fast: bool = True) -> None:
        """Stop the server (SIGINT: fast shutdown; in-flight sessions are disconnected)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None


@contextlib.contextmanager
def postgres_server(directory: Path | None = None) -> Iterator[PostgresProcess]:
    """A running PostgresProcess for the block (see the module docstring)."""
    bindir = find_postgres()
    if bindir is None:
        raise FileNotFoundError("PostgreSQL is not installed (apt-get install postgresql)")
    with tempfile.TemporaryDirectory(prefix="aigw-pg-", dir=directory) as tmp:
        server = PostgresProcess(bindir, Path(tmp), free_port())
        server.start()
        try:
            yield server
        finally:
            server.stop()
