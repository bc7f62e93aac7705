"""Environment overrides: AIGW_SECTION__KEY=value, parsed as TOML values, winning over the file."""

from pathlib import Path

import pytest

from aigw.config import ConfigError, load_settings
from aigw.config_env import parse_env_value


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aigw.toml"
    path.write_text(text)
    return path


def test_server_port_from_the_environment_is_an_integer():
    assert load_settings(None, environ={"AIGW_SERVER__PORT": "9000"}).server.port == 9000


def test_the_environment_wins_over_the_file(tmp_path):
    settings = load_settings(write(tmp_path, "[server]\nport = 8000\n"), environ={"AIGW_SERVER__PORT": "9000"})
    assert settings.server.port == 9000


def test_nested_gateway_key_from_the_environment_is_a_boolean():
    settings = load_settings(None, environ={"AIGW_GATEWAYS__DEFAULT__AUTHENTICATION": "false"})
    assert settings.gateways["default"].authentication is False


def test_inline_table_member_from_the_environment():
    settings = load_settings(None, environ={"AIGW_GATEWAYS__DEFAULT__RATE_LIMIT__LIMIT": "100"})
    assert settings.gateways["default"].rate_limit.limit == 100
    assert settings.gateways["default"].rate_limit.technique == "sliding"


def test_a_whole_inline_table_from_the_environment():
    settings = load_settings(None, environ={"AIGW_GATEWAYS__DEFAULT__RETRY": '{ max_attempts = 3, backoff = "linear" }'})
    assert (settings.gateways["default"].retry.max_attempts, settings.gateways["default"].retry.backoff) == (3, "linear")


def test_top_level_key_with_a_single_underscore(tmp_path):
    assert load_settings(None, environ={"AIGW_DATA_DIR": str(tmp_path / "d")}).data_dir == tmp_path / "d"


def test_text_that_is_not_a_toml_value_is_a_string():
    assert load_settings(None, environ={"AIGW_SERVER__HOST": "0.0.0.0"}).server.host == "0.0.0.0"


def test_a_string_key_takes_the_variable_exactly_as_written():
    settings = load_settings(None, environ={"AIGW_GATEWAYS__DEFAULT__ACCOUNT_ID": "12345"})
    assert settings.gateways["default"].account_id == "12345"


def test_a_list_key_takes_comma_separated_text():
    settings = load_settings(None, environ={"AIGW_PLUGINS__ENABLED": "openai, sqlite_logs"})
    assert settings.plugins.enabled == ("openai", "sqlite_logs")


def test_a_list_key_takes_a_toml_array():
    settings = load_settings(None, environ={"AIGW_PLUGINS__ENABLED": '["openai"]'})
    assert settings.plugins.enabled == ("openai",)


def test_aigw_tokens_is_a_comma_separated_list_of_secrets():
    settings = load_settings(None, environ={"AIGW_TOKENS": "env:T1,literal-token-0123456789", "T1": "from-env-0123456789"})
    assert [t.reveal() for t in settings.tokens] == ["from-env-0123456789", "literal-token-0123456789"]


def test_a_provider_name_matches_the_file_ignoring_case_and_dashes(tmp_path):
    path = write(tmp_path, '[providers.custom-local]\nbase_url = "http://127.0.0.1:1/v1"\n')
    settings = load_settings(path, environ={"AIGW_PROVIDERS__CUSTOM_LOCAL__BASE_URL": "http://127.0.0.1:2/v1"})
    assert set(settings.providers) == {"custom-local"}
    assert settings.providers["custom-local"].base_url == "http://127.0.0.1:2/v1"


def test_a_provider_created_from_the_environment_gets_a_dashed_slug():
    settings = load_settings(None, environ={"AIGW_PROVIDERS__GOOGLE_AI_STUDIO__KEY": "k"})
    assert list(settings.providers) == ["google-ai-studio"]


def test_a_provider_key_from_the_environment_is_a_secret():
    settings = load_settings(None, environ={"AIGW_PROVIDERS__OPENAI__KEY": "sk-123"})
    assert settings.providers["openai"].key.reveal() == "sk-123"


def test_a_gateway_can_be_created_from_the_environment():
    settings = load_settings(None, environ={"AIGW_GATEWAYS__BENCH__AUTHENTICATION": "false"})
    assert settings.gateways["bench"].authentication is False


def test_aigw_switches_that_are_not_keys_are_left_alone(tmp_path):
    path = write(tmp_path, "")
    switches = {"AIGW_LOG_LEVEL": "debug", "AIGW_PLUGINS": "a,b", "AIGW_DISABLE_PLUGINS": "c", "AIGW_TRACE_PLUGINS": "1"}
    settings = load_settings(None, environ={"AIGW_CONFIG": str(path), **switches})
    assert settings.source == path.resolve()
    assert settings.plugins.enabled == ("*",) and settings.warnings == ()


def test_an_unknown_single_level_variable_is_ignored_with_a_warning():
    settings = load_settings(None, environ={"AIGW_DATADIR": "/x", "AIGW_SOMETHING_ELSE": "1"})
    assert settings.warnings == (
        'environment AIGW_DATADIR: not a configuration key; ignored (did you mean "AIGW_DATA_DIR"?)',
        "environment AIGW_SOMETHING_ELSE: not a configuration key; ignored",
    )


def test_a_bad_value_from_the_environment_names_the_variable():
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"AIGW_SERVER__PORT": "eighty"})
    assert str(info.value) == 'environment AIGW_SERVER__PORT: server.port: expected an integer 1-65535, got "eighty"'


def test_an_unknown_key_from_the_environment_is_an_error_with_a_suggestion():
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"AIGW_SERVER__HOTS": "x"})
    assert str(info.value) == 'environment AIGW_SERVER__HOTS: server.hots: unknown key (did you mean "host"?)'


def test_a_malformed_variable_name_is_an_error():
    with pytest.raises(ConfigError) as info:
        load_settings(None, environ={"AIGW_SERVER____PORT": "1"})
    assert "environment AIGW_SERVER____PORT: malformed name" in str(info.value)


def test_a_key_inside_a_non_table_is_an_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, "data_dir = 'x'\n"), environ={"AIGW_DATA_DIR__SUB": "1"})
    assert "environment AIGW_DATA_DIR__SUB: cannot set a key inside data_dir, which is not a table" in str(info.value)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("9000", 9000), ("false", False), ("1.5", 1.5), ('"quoted"', "quoted"), ("0.0.0.0", "0.0.0.0"),
     ("env:KEY", "env:KEY"), ("[1, 2]", [1, 2]), ("a\nb = 1", "a\nb = 1")],
)
def test_env_values_parse_as_toml_values_or_stay_text(raw, value):
    assert parse_env_value(raw) == value


async def test_simulator_provider_settings_load_through_the_environment():
    """Every provider simulator's [providers.<slug>] settings, given as AIGW_PROVIDERS__* variables
    (slug dashes as underscores), load as that provider's base_url and stored key."""
    from aigw.testing.simulators import Simulators

    async with Simulators() as sims:
        wanted = sims.provider_settings()
    env = {}
    for slug, table in wanted.items():
        prefix = "AIGW_PROVIDERS__" + slug.upper().replace("-", "_")
        env[prefix + "__BASE_URL"] = table["base_url"]
        env[prefix + "__KEY"] = table["key"]
    providers = load_settings(None, environ=env).providers
    assert set(providers) == set(wanted)
    for slug, table in wanted.items():
        provider = providers[slug]
        assert (provider.base_url, provider.key.reveal()) == (table["base_url"].rstrip("/"), table["key"])
