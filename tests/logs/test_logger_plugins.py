"""The built-in loggers register as plugins and read their config sections."""

from __future__ import annotations

import pytest

from aigw.builtins import jsonl_logs, sqlite_logs
from aigw.builtins.jsonl_logs import JsonlLogger
from aigw.builtins.sqlite_logs import SqliteLogger
from aigw.errors import ConfigError
from aigw.plugins import load_plugins
from aigw.types import PluginContext


def registered(module) -> dict:
    offered: dict = {}
    module.register_loggers(register=lambda name, factory: offered.__setitem__(name, factory))
    return offered


def context(tmp_path, name: str, **config) -> PluginContext:
    return PluginContext(name=name, config=config, settings=None, data_dir=tmp_path)


def test_sqlite_plugin_offers_a_logger_on_logs_db_in_the_data_dir(tmp_path):
    logger = registered(sqlite_logs)["sqlite"](context(tmp_path, "sqlite"))
    assert isinstance(logger, SqliteLogger) and logger.path == tmp_path / "logs.db"


def test_jsonl_plugin_offers_a_logger_on_logs_jsonl_in_the_data_dir(tmp_path):
    logger = registered(jsonl_logs)["jsonl"](context(tmp_path, "jsonl", bodies="base64"))
    assert isinstance(logger, JsonlLogger) and logger.path == tmp_path / "logs.jsonl"
    assert logger.bodies == "base64"


def test_jsonl_plugin_path_dash_means_stderr(tmp_path):
    assert registered(jsonl_logs)["jsonl"](context(tmp_path, "jsonl", path="-")).path is None


def test_built_in_plugin_manager_offers_both_loggers(tmp_path):
    loggers = load_plugins([]).register_loggers()
    assert isinstance(loggers.create("sqlite", context(tmp_path, "sqlite")), SqliteLogger)
    assert isinstance(loggers.create("jsonl", context(tmp_path, "jsonl")), JsonlLogger)


@pytest.mark.parametrize(
    "config",
    [{"batch_sise": 10}, {"batch_size": 0}, {"batch_size": "10"}, {"flush_interval_ms": -1}, {"path": 3}],
    ids=["unknown key", "zero batch", "string batch", "negative interval", "non-string path"],
)
def test_bad_sqlite_config_stops_with_a_config_error(tmp_path, config):
    with pytest.raises(ConfigError, match="sqlite"):
        SqliteLogger.from_context(context(tmp_path, "sqlite", **config))


def test_bad_jsonl_bodies_mode_stops_with_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="bodies"):
        JsonlLogger.from_context(context(tmp_path, "jsonl", bodies="hex"))
