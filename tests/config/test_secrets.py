"""Secrets: env:/file:/literal, and their values never shown by repr, str, errors or warnings."""


import pytest

from aigw.config import ConfigError, load_settings
from aigw.secret import Secret, SecretSpecError, UnsetSecret, resolve_secret

VALUE = "sk-super-secret-value-42"


def test_literal_secret():
    secret = resolve_secret(VALUE, environ={})
    assert secret.reveal() == VALUE and secret.source == "literal"


def test_env_secret():
    secret = resolve_secret("env:MY_KEY", environ={"MY_KEY": VALUE})
    assert secret.reveal() == VALUE and secret.source == "env:MY_KEY"


def test_env_secret_unset_or_empty_is_unset():
    assert resolve_secret("env:MY_KEY", environ={}) == UnsetSecret("env:MY_KEY")
    assert resolve_secret("env:MY_KEY", environ={"MY_KEY": ""}) == UnsetSecret("env:MY_KEY")


def test_file_secret_is_stripped(tmp_path):
    (tmp_path / "key").write_text(f"  {VALUE}\n")
    secret = resolve_secret("file:key", environ={}, base_dir=tmp_path)
    assert secret.reveal() == VALUE and secret.source == f"file:{tmp_path / 'key'}"


def test_file_secret_missing_raises_naming_the_path(tmp_path):
    with pytest.raises(SecretSpecError, match="cannot read .*nope: No such file"):
        resolve_secret("file:nope", environ={}, base_dir=tmp_path)


def test_repr_str_and_format_never_show_the_value():
    secret = Secret(VALUE)
    for shown in (repr(secret), str(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", repr([secret])):
        assert VALUE not in shown
    assert repr(Secret(VALUE, "env:OPENAI_API_KEY")) == "Secret(env:OPENAI_API_KEY)"


def test_settings_repr_never_shows_provider_keys_or_tokens(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text(f'tokens = ["{VALUE}-t"]\n[providers.openai]\nkey = "{VALUE}"\nkeys = {{ b = "env:B" }}\n')
    settings = load_settings(path, environ={"B": VALUE + "-b"})
    assert settings.providers["openai"].keys["b"].reveal() == VALUE + "-b"
    assert VALUE not in repr(settings) and VALUE not in str(settings)


def test_type_errors_on_secret_keys_do_not_echo_the_value(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text("[providers.openai]\nkey = 4242424242424242\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert "4242424242424242" not in str(info.value)
    assert str(info.value).endswith('providers.openai.key: expected a string: "env:NAME", "file:PATH" or the secret itself')


def test_unknown_keys_never_echo_their_value(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text(f'[providers.openai]\nkye = "{VALUE}"\n[server]\napi_key = "{VALUE}"\n')
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ={})
    assert len(info.value.issues) == 2 and VALUE not in str(info.value)


def test_warnings_name_the_variable_not_a_value(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text('[providers.openai]\nkey = "env:OPENAI_API_KEY"\n')
    settings = load_settings(path, environ={})
    assert settings.warnings == (f"{path}:2: providers.openai.key: OPENAI_API_KEY is not set; no value for this key",)


def test_plugin_settings_and_provider_options_stay_out_of_repr(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text(f'[plugins.redis]\nurl = "redis://:{VALUE}@host"\n[providers.aws-bedrock]\nsecret_access_key = "{VALUE}"\n')
    settings = load_settings(path, environ={})
    assert VALUE in settings.plugin_config["redis"]["url"]
    assert VALUE in settings.providers["aws-bedrock"].options["secret_access_key"]
    assert VALUE not in repr(settings)


def test_secrets_compare_by_value_whatever_their_source():
    assert Secret(VALUE, "env:A") == Secret(VALUE, "literal")
    assert len({Secret(VALUE, "env:A"), Secret(VALUE, "literal")}) == 1
    assert Secret(VALUE) != Secret(VALUE + "x")
