"""Plugin lifecycle and explicit choice (issue 12, item 1): `[cache] backend`, `[rate_limit]
backend`, `[logs] stores`, `[auth] backends` choose among registered components; start/aclose
run in order on one exit stack; a bad factory or a failing start stops start-up naming the
plugin; `aigw check-config` shows the choice; `--workers N` warns about per-process state."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner

from aigw import PluginError, hookimpl
from aigw.cli import cli
from aigw.client import UniversalClient
from aigw.config import ConfigError, load_settings
from aigw.gateway import Gateway
from aigw.testing.gateway import running_gateway, to_toml
from aigw.testing.plugins import register_plugin
from aigw.types import Principal


class Recorded:
    """A component that records start/aclose into a shared list."""

    def __init__(self, name: str, calls: list, *, fail_start: bool = False) -> None:
        self.name, self.calls, self.fail_start = name, calls, fail_start

    async def start(self) -> None:
        self.calls.append(("start", self.name))
        if self.fail_start:
            raise RuntimeError("cannot reach the backend")

    async def aclose(self) -> None:
        self.calls.append(("aclose", self.name))


class RecordedCache(Recorded):
    async def get(self, key):
        return None

    async def set(self, key, value, ttl):
        pass


class RecordedLimiter(Recorded):
    async def hit(self, key, limit, interval, technique):
        raise AssertionError("no limit configured")


class StaticAuth(Recorded):
    """An auth backend from a plugin: one fixed token."""

    async def authenticate(self, gateway, token):
        return Principal(id="static-1", name="static") if token == "static-token-0123456789" else None


class ComponentsPlugin:
    def __init__(self, calls: list, **factories) -> None:
        self.calls = calls
        self.factories = factories

    @hookimpl
    def register_caches(self, register):
        register("recorded", self.factories.get("cache", lambda ctx: RecordedCache("cache", self.calls)))

    @hookimpl
    def register_rate_limiters(self, register):
        register("recorded", lambda ctx: RecordedLimiter("limiter", self.calls))

    @hookimpl
    def register_auth_backends(self, register):
        register("static", lambda ctx: StaticAuth("auth", self.calls))


def write_config(tmp_path, doc) -> object:
    path = tmp_path / "aigw.toml"
    path.write_text(to_toml({"data_dir": str(tmp_path / "data"), **doc}))
    return path


async def test_chosen_components_start_in_order_and_close_in_reverse(tmp_path):
    calls: list = []
    doc = {"cache": {"backend": "recorded"}, "rate_limit": {"backend": "recorded"}, "auth": {"backends": ["static"]}}
    with register_plugin(ComponentsPlugin(calls)):
        gateway = Gateway(load_settings(write_config(tmp_path, doc), environ={}))
        await gateway.start()
        assert calls == [("start", "auth"), ("start", "cache"), ("start", "limiter")]
        await gateway.stop()
    assert calls[3:] == [("aclose", "limiter"), ("aclose", "cache"), ("aclose", "auth")]


async def test_a_failing_start_stops_start_up_naming_the_plugin_and_closes_what_started(tmp_path):
    calls: list = []
    plugin = ComponentsPlugin(calls, cache=lambda ctx: RecordedCache("cache", calls, fail_start=True))
    doc = {"cache": {"backend": "recorded"}, "auth": {"backends": ["static"]}}
    with register_plugin(plugin, name="recorder"):
        gateway = Gateway(load_settings(write_config(tmp_path, doc), environ={}))
        with pytest.raises(PluginError, match=r"cache 'recorded' of plugin 'recorder'.* failed to start: cannot reach the backend"):
            await gateway.start()
    assert calls == [("start", "auth"), ("start", "cache"), ("aclose", "auth")]


async def test_a_factory_returning_the_wrong_kind_of_object_stops_start_up_naming_the_plugin(tmp_path):
    plugin = ComponentsPlugin([], cache=lambda ctx: object())
    with register_plugin(plugin, name="broken"):
        gateway = Gateway(load_settings(write_config(tmp_path, {"cache": {"backend": "recorded"}}), environ={}))
        with pytest.raises(PluginError, match=r"cache 'recorded' of plugin 'broken'.*not an aigw.Cache \(missing: get, name, set\)"):
            await gateway.start()


async def test_an_unknown_backend_name_is_a_config_error_at_the_line_that_chose_it(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text('data_dir = "data"\n\n[rate_limit]\nbackend = "reddis"\n')
    gateway = Gateway(load_settings(path, environ={}))
    with pytest.raises(ConfigError) as caught:
        await gateway.start()
    (issue,) = caught.value.issues
    assert issue.where == f"{path}:4" and issue.key == "rate_limit.backend"
    assert "'reddis'" in issue.message and "registered: memory" in issue.message


async def test_an_auth_backend_registered_by_a_plugin_authenticates_when_chosen(tmp_path):
    with register_plugin(ComponentsPlugin([])):
        async with running_gateway(data_dir=tmp_path, create_token=False, auth={"backends": ["static", "tokens"]}) as gw:
            async with UniversalClient(gw.url, token="static-token-0123456789") as client:
                await client.connect()
            with pytest.raises(Exception, match="401"):
                async with UniversalClient(gw.url, token="not-a-known-token-000") as client:
                    await client.connect()


async def test_the_old_plugins_section_still_chooses_the_cache_with_a_deprecation_warning(tmp_path, caplog):
    with register_plugin(ComponentsPlugin([])):
        gateway = Gateway(load_settings(write_config(tmp_path, {"plugins": {"recorded": {"x": 1}}}), environ={}))
        with caplog.at_level(logging.WARNING, "aigw.gateway"):
            await gateway.start()
        try:
            assert gateway._built.runtime.cache.name == "cache"
        finally:
            await gateway.stop()
    assert any('write [cache] backend = "recorded"' in r.getMessage() for r in caplog.records)


def test_check_config_shows_the_chosen_components(tmp_path):
    path = write_config(tmp_path, {"logs": {"stores": ["sqlite", "jsonl"]}})
    result = CliRunner().invoke(cli, ["check-config", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "cache: memory (in process: per worker)" in result.output
    assert "rate_limit: memory (in process: per worker)" in result.output
    assert "logs: sqlite, jsonl" in result.output and "auth: tokens" in result.output


def test_check_config_refuses_an_unknown_log_store_with_file_and_line(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text('[logs]\nstores = ["sqlite", "postgress"]\n')
    result = CliRunner().invoke(cli, ["check-config", "--config", str(path)])
    assert result.exit_code == 1
    assert re.search(rf"{re.escape(str(path))}:2: logs.stores: no enabled plugin registers a logger named 'postgress'", result.output)


def test_serve_with_workers_and_the_in_process_limiter_warns_that_limits_are_per_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_config(tmp_path, {})
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIGW_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aigw", "serve", "--config", str(path), "--workers", "2", "--port", str(port)],
        stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: list[str] = []
    try:
        while len([line for line in lines if "listening on" in line]) < 2:
            line = proc.stderr.readline()
            assert line, "aigw serve exited early:\n" + "".join(lines)
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = "".join(lines)
    assert "rate limits are per process: with --workers 2" in text
    assert "the cache is per process: with --workers 2" in text
    assert text.count("rate limits are per process") == 1  # once, not once per worker
