"""`aigw serve` in real processes: first token printed once, /health, the Universal endpoint, workers."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from click.testing import CliRunner

from aigw.auth import TokenStore
from aigw.cli import cli

pytestmark = pytest.mark.timeout(60)

LISTENING = re.compile(r"listening on https?://127\.0\.0\.1:(\d+)/ \(pid (\d+)\)")
FIRST_TOKEN = re.compile(r"first auth token, shown only this once .*: (aigw_\S+)")


def clean_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
    env["AIGW_DATA_DIR"] = str(tmp_path / "data")
    return env


class Served:
    """A running `aigw serve` subprocess and the stderr lines read so far."""

    def __init__(self, tmp_path, *args):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aigw", "serve", "--host", "127.0.0.1", *args],
            env=clean_env(tmp_path), stderr=subprocess.PIPE, text=True,
        )
        self.lines: list[str] = []

    def wait_for(self, pattern: re.Pattern, count: int = 1) -> list[re.Match]:
        """Read stderr until `count` lines match `pattern` (fails if the process ends first)."""
        found = [m for m in map(pattern.search, self.lines) if m]
        while len(found) < count:
            line = self.proc.stderr.readline()
            assert line, "aigw serve exited early:\n" + "".join(self.lines)
            self.lines.append(line)
            match = pattern.search(line)
            if match:
                found.append(match)
        return found

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(30)
        self.lines += self.proc.stderr.readlines()
        return code


def get(port: int, path: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_serve_prints_a_first_token_that_verifies_and_answers_health(tmp_path, loop):
    served = Served(tmp_path, "--port", "0", "--loop", loop)
    try:
        (port_match,) = served.wait_for(LISTENING)
        port = int(port_match.group(1))
        assert _ok(get(port, "/health"))
        status, body = get(port, "/v1/acct/default")  # plain GET on the WebSocket endpoint
        assert status == 426 and body["errors"][0]["code"] == 2010
    finally:
        assert served.stop() == 0
    (token_match,) = [m for m in map(FIRST_TOKEN.search, served.lines) if m]
    store = TokenStore(tmp_path / "data" / "aigw.db")
    try:
        assert store.verify(token_match.group(1), "default") is not None
    finally:
        store.close()


def test_serve_prints_the_first_token_only_once(tmp_path):
    first = Served(tmp_path, "--port", "0")
    first.wait_for(LISTENING)
    assert first.stop() == 0
    second = Served(tmp_path, "--port", "0")
    second.wait_for(LISTENING)
    assert second.stop() == 0
    assert any(FIRST_TOKEN.search(line) for line in first.lines)
    assert not any(FIRST_TOKEN.search(line) for line in second.lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_with_workers_runs_that_many_processes_on_one_port(tmp_path):
    port = free_port()
    served = Served(tmp_path, "--port", str(port), "--workers", "2")
    try:
        matches = served.wait_for(LISTENING, count=2)
        assert {int(m.group(1)) for m in matches} == {port}
        pids = {int(m.group(2)) for m in matches}
        assert len(pids) == 2 and served.proc.pid not in pids
        assert _ok(get(port, "/health"))
    finally:
        assert served.stop() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_serve_stops_on_an_invalid_configuration(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text("[server]\nworkers = 0\n")
    result = CliRunner().invoke(cli, ["serve", "--config", str(path)], env={"AIGW_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 1
    assert f"{path}:2: server.workers: expected an integer 1-256, got 0" in result.stderr


def test_serve_refuses_port_0_with_several_workers(tmp_path):
    result = CliRunner().invoke(cli, ["serve", "--port", "0", "--workers", "2"], env={"AIGW_DATA_DIR": str(tmp_path)})
    assert result.exit_code == 2 and "--port 0 picks a different port per worker" in result.stderr


def test_serve_exits_1_when_the_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = Served(tmp_path, "--port", str(port))
        assert served.proc.wait(30) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in served.proc.stderr.read()


def test_serve_with_workers_exits_1_when_they_cannot_listen(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        served = Served(tmp_path, "--port", str(port), "--workers", "2")
        assert served.proc.wait(30) == 1
    err = served.proc.stderr.read()
    assert f"cannot listen on 127.0.0.1:{port}" in err and "stopping the others" in err


def test_serve_with_tls_from_the_config_answers_https(tmp_path):
    import ssl

    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    config = tmp_path / "aigw.toml"
    config.write_text('[server]\ntls_cert = "server.pem"\ntls_key = "server.pem"\n')
    served = Served(tmp_path, "--config", str(config), "--port", "0")
    try:
        (match,) = served.wait_for(LISTENING)
        assert "listening on https://" in served.lines[-1]
        client = ssl.create_default_context()
        ca.configure_trust(client)
        url = f"https://127.0.0.1:{match.group(1)}/health"
        with urllib.request.urlopen(url, context=client) as response:
            assert _ok((response.status, json.loads(response.read())))
    finally:
        assert served.stop() == 0


def _ok(answer) -> bool:
    """`/health` answered 200 with status "ok" (its body also reports logs and plugins)."""
    status, body = answer
    return status == 200 and body["status"] == "ok"
