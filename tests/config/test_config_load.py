"""Loading configuration: the documented example, defaults, AIGW_CONFIG, plugin sections."""

import dataclasses
import re
from pathlib import Path

import pytest

from aigw.config import ConfigError, Settings, load_settings
from aigw.secret import Secret

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def documented_example() -> str:
    """The first ```toml block of docs/configuration.md, byte for byte (config.md's example)."""
    text = DOCS.read_text()
    match = re.search(r"```toml\n(.*?)```", text, re.S)
    assert match is not None
    return match.group(1)


def write(tmp_path: Path, text: str, name: str = "aigw.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_documented_example_is_the_design_contract_example():
    example = documented_example()
    assert example.startswith('data_dir = ".aigw"\n')
    assert '[providers.custom-local]' in example
    assert 'keys = { backup = "env:OPENAI_API_KEY_2" }' in example


def test_documented_example_is_accepted_as_written(tmp_path):
    path = write(tmp_path, documented_example())
    env = {"OPENAI_API_KEY": "sk-openai", "OPENAI_API_KEY_2": "sk-backup", "ANTHROPIC_API_KEY": "sk-ant"}
    settings = load_settings(path, environ=env)

    assert settings.source == path.resolve()
    assert settings.data_dir == tmp_path / ".aigw"
    assert (settings.server.host, settings.server.port, settings.server.workers) == ("127.0.0.1", 8787, 1)
    assert settings.server.max_message_size == 16777216
    assert settings.server.max_inflight_per_connection == 256
    assert (settings.server.ping_interval, settings.server.idle_timeout, settings.server.shutdown_grace) == (20, 300, 30)
    assert settings.plugins.enabled == ("*",)
    default = settings.gateways["default"]
    assert default.account_id == "" and default.authentication and default.collect_logs
    assert default.cache_ttl == 0 and default.request_timeout_ms == 0
    assert (default.rate_limit.limit, default.rate_limit.interval, default.rate_limit.technique) == (0, 60, "sliding")
    assert (default.retry.max_attempts, default.retry.delay_ms, default.retry.backoff) == (1, 0, "constant")
    assert settings.gateways["bench"].authentication is False
    assert settings.upstream.pool_size_per_host == 64 and settings.upstream.connect_timeout_ms == 10000
    openai = settings.providers["openai"]
    assert openai.base_url == "https://api.openai.com/v1"
    assert openai.key.reveal() == "sk-openai"
    assert openai.keys["backup"].reveal() == "sk-backup"
    assert settings.providers["anthropic"].key.reveal() == "sk-ant"
    custom = settings.providers["custom-local"]
    assert custom.base_url == "http://127.0.0.1:11434/v1" and custom.format == "openai" and custom.is_custom
    assert settings.warnings == ()


def test_documented_example_with_keys_unset_warns_for_each_and_stores_none(tmp_path):
    settings = load_settings(write(tmp_path, documented_example()), environ={})
    assert settings.providers["openai"].keys == {}
    assert settings.providers["anthropic"].key is None
    assert len(settings.warnings) == 3
    assert any("providers.openai.key: OPENAI_API_KEY is not set" in w for w in settings.warnings)
    assert any("providers.openai.keys.backup: OPENAI_API_KEY_2 is not set" in w for w in settings.warnings)


def test_no_file_gives_the_documented_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.source is None
    assert list(settings.gateways) == ["default"]
    assert settings.gateways["default"].authentication is True
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8787)
    assert settings.data_dir == tmp_path / ".aigw"
    assert settings.db_path == tmp_path / ".aigw" / "aigw.db"
    assert settings.plugins.enabled == ("*",)
    assert settings.providers == {} and settings.plugin_config == {} and settings.tokens == ()


def test_aigw_config_names_the_file(tmp_path):
    path = write(tmp_path, "[server]\nport = 9100\n")
    assert load_settings(None, environ={"AIGW_CONFIG": str(path)}).server.port == 9100


def test_an_explicit_path_wins_over_aigw_config(tmp_path):
    chosen = write(tmp_path, "[server]\nport = 9100\n", "a.toml")
    other = write(tmp_path, "[server]\nport = 9200\n", "b.toml")
    assert load_settings(chosen, environ={"AIGW_CONFIG": str(other)}).server.port == 9100


def test_gateway_default_exists_even_when_the_file_names_only_others(tmp_path):
    settings = load_settings(write(tmp_path, "[gateways.bench]\nauthentication = false\n"), environ={})
    assert set(settings.gateways) == {"default", "bench"}
    assert settings.gateways["bench"].name == "bench"


def test_plugin_tables_under_plugins_become_plugin_config(tmp_path):
    text = '[plugins]\nenabled = ["echo"]\n\n[plugins.sqlite]\npath = "logs.db"\nbatch = [1, 2]\n'
    settings = load_settings(write(tmp_path, text), environ={})
    assert settings.plugins.enabled == ("echo",)
    assert settings.plugin_config["sqlite"]["path"] == "logs.db"
    assert settings.plugin_config["sqlite"]["batch"] == (1, 2)
    with pytest.raises(TypeError):
        settings.plugin_config["sqlite"]["path"] = "other.db"


def test_unknown_provider_keys_are_kept_for_the_provider_plugin(tmp_path):
    text = '[providers.azure-openai]\nresource = "mine"\napi_version = "2024-10-21"\n'
    provider = load_settings(write(tmp_path, text), environ={}).providers["azure-openai"]
    assert dict(provider.options) == {"resource": "mine", "api_version": "2024-10-21"}
    assert provider.base_url is None and provider.key is None


def test_relative_paths_in_the_file_are_relative_to_its_directory(tmp_path, monkeypatch):
    conf = tmp_path / "etc"
    conf.mkdir()
    (conf / "ca.pem").write_text("x")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(write(conf, 'data_dir = "state"\n[upstream]\nca_file = "ca.pem"\n'), environ={})
    assert settings.data_dir == conf / "state"
    assert settings.upstream.ca_file == conf / "ca.pem"


def test_settings_are_frozen(tmp_path):
    settings = load_settings(None, environ={})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.server.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.gateways["x"] = settings.gateways["default"]  # type: ignore[index]


def test_settings_use_slotted_dataclasses():
    assert not hasattr(Settings(), "__dict__")


def test_gateway_tokens_and_top_level_tokens_are_secrets(tmp_path):
    text = 'tokens = ["env:ALL_TOKEN"]\n[gateways.bench]\ntokens = ["file:bench.token"]\n'
    (tmp_path / "bench.token").write_text("bench-token-0123456789\n")
    settings = load_settings(write(tmp_path, text), environ={"ALL_TOKEN": "all-token-0123456789"})
    assert [t.reveal() for t in settings.tokens] == ["all-token-0123456789"]
    (bench,) = settings.gateways["bench"].tokens
    assert isinstance(bench, Secret) and bench.reveal() == "bench-token-0123456789"


def test_an_unreadable_file_is_a_config_error_naming_it(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "missing.toml", environ={})
    assert str(info.value) == f"{tmp_path / 'missing.toml'}: cannot read the configuration file: No such file or directory"
