"""Validation: every problem names the file and line (or variable), the key, and what was expected."""

from pathlib import Path

import pytest

from aigw.config import ConfigError, load_settings


def errors_of(tmp_path: Path, text: str, environ: dict | None = None) -> list[str]:
    path = tmp_path / "aigw.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ=environ or {})
    return [str(issue).replace(f"{path}:", "aigw.toml:") for issue in info.value.issues]


def test_wrong_type_names_file_line_key_and_expectation(tmp_path):
    text = '[server]\nhost = "127.0.0.1"\n\n\n\n\nport = "eighty"\n'
    assert errors_of(tmp_path, text) == ['aigw.toml:7: server.port: expected an integer 1-65535, got "eighty"']


def test_a_boolean_is_not_an_integer(tmp_path):
    assert errors_of(tmp_path, "[server]\nworkers = true\n") == [
        "aigw.toml:2: server.workers: expected an integer 1-256, got true"
    ]


def test_out_of_range(tmp_path):
    assert errors_of(tmp_path, "[server]\nport = 70000\n") == [
        "aigw.toml:2: server.port: expected an integer 1-65535, got 70000"
    ]


def test_wrong_boolean(tmp_path):
    assert errors_of(tmp_path, '[gateways.default]\nauthentication = "yes"\n') == [
        'aigw.toml:2: gateways.default.authentication: expected true or false, got "yes"'
    ]


def test_unknown_key_suggests_the_closest_known_one(tmp_path):
    assert errors_of(tmp_path, "[server]\nprot = 8787\n") == [
        'aigw.toml:2: server.prot: unknown key (did you mean "port"?)'
    ]


def test_unknown_key_with_nothing_close_lists_the_known_keys(tmp_path):
    (error,) = errors_of(tmp_path, "[upstream]\nzzz = 1\n")
    assert error == "aigw.toml:2: upstream.zzz: unknown key (known keys: ca_file, connect_timeout_ms, max_connections_per_client, pool_size_per_host)"


def test_unknown_top_level_table(tmp_path):
    assert errors_of(tmp_path, "[servers]\nport = 1\n") == [
        'aigw.toml:1: servers: unknown key (did you mean "server"?)'
    ]


def test_bad_backoff_inside_an_inline_table(tmp_path):
    text = '[gateways.default]\nretry = { max_attempts = 2, delay_ms = 0, backoff = "quadratic" }\n'
    assert errors_of(tmp_path, text) == [
        'aigw.toml:2: gateways.default.retry.backoff: expected one of "constant", "linear", "exponential", got "quadratic"'
    ]


def test_max_attempts_above_five(tmp_path):
    assert errors_of(tmp_path, "[gateways.default.retry]\nmax_attempts = 6\n") == [
        "aigw.toml:2: gateways.default.retry.max_attempts: expected an integer 1-5, got 6"
    ]


def test_retry_delay_above_five_seconds(tmp_path):
    assert errors_of(tmp_path, "[gateways.x]\nretry = { delay_ms = 6000 }\n") == [
        "aigw.toml:2: gateways.x.retry.delay_ms: expected an integer 0-5000, got 6000"
    ]


def test_bad_rate_limit_technique(tmp_path):
    assert errors_of(tmp_path, '[gateways.default]\nrate_limit = { technique = "leaky" }\n') == [
        'aigw.toml:2: gateways.default.rate_limit.technique: expected one of "fixed", "sliding", got "leaky"'
    ]


def test_unknown_key_inside_an_inline_table(tmp_path):
    assert errors_of(tmp_path, "[gateways.default]\nrate_limit = { limt = 5 }\n") == [
        'aigw.toml:2: gateways.default.rate_limit.limt: unknown key (did you mean "limit"?)'
    ]


def test_every_problem_is_reported_in_file_order(tmp_path):
    text = (
        "[server]\n"
        'port = "eighty"\n'
        "prot = 1\n"
        "[gateways.default]\n"
        'retry = { max_attempts = 9, backoff = "sometimes" }\n'
        "collect_logs = 1\n"
    )
    assert errors_of(tmp_path, text) == [
        'aigw.toml:2: server.port: expected an integer 1-65535, got "eighty"',
        'aigw.toml:3: server.prot: unknown key (did you mean "port"?)',
        "aigw.toml:5: gateways.default.retry.max_attempts: expected an integer 1-5, got 9",
        'aigw.toml:5: gateways.default.retry.backoff: expected one of "constant", "linear", "exponential", got "sometimes"',
        "aigw.toml:6: gateways.default.collect_logs: expected true or false, got 1",
    ]


def test_file_and_environment_problems_are_reported_together(tmp_path):
    errors = errors_of(tmp_path, "[server]\nport = 0\n", {"AIGW_UPSTREAM__POOL_SIZE_PER_HOST": "0"})
    assert errors == [
        "aigw.toml:2: server.port: expected an integer 1-65535, got 0",
        "environment AIGW_UPSTREAM__POOL_SIZE_PER_HOST: upstream.pool_size_per_host: expected an integer 1-4096, got 0",
    ]


def test_toml_syntax_error_names_the_line(tmp_path):
    (error,) = errors_of(tmp_path, '[server]\nhost = "a"\nport 8787\n')
    assert error.startswith("aigw.toml:3: invalid TOML: ")


def test_bad_gateway_name(tmp_path):
    assert errors_of(tmp_path, "[gateways.Prod]\n") == [
        "aigw.toml:1: gateways.Prod: invalid name: use lower-case letters, digits, '-' and '_', at most 64 characters"
    ]


def test_a_gateway_that_is_not_a_table(tmp_path):
    assert errors_of(tmp_path, "[gateways]\nbench = 1\n") == ["aigw.toml:2: gateways.bench: expected a table, got 1"]


def test_custom_provider_needs_a_base_url(tmp_path):
    assert errors_of(tmp_path, "[providers.custom-x]\nformat = 'openai'\n") == [
        "aigw.toml:1: providers.custom-x: a custom provider needs base_url"
    ]


def test_misspelt_provider_key_is_an_error_not_an_option(tmp_path):
    assert errors_of(tmp_path, "[providers.openai]\nbase_ulr = 'https://x'\n") == [
        'aigw.toml:2: providers.openai.base_ulr: unknown key (did you mean "base_url"?)'
    ]


def test_base_url_must_be_http(tmp_path):
    assert errors_of(tmp_path, "[providers.openai]\nbase_url = 'ftp://x'\n") == [
        'aigw.toml:2: providers.openai.base_url: expected an http:// or https:// URL without query, got "ftp://x"'
    ]


def test_key_and_keys_default_conflict(tmp_path):
    text = "[providers.openai]\nkey = 'a'\nkeys = { default = 'b' }\n"
    assert errors_of(tmp_path, text) == [
        'aigw.toml:3: providers.openai.keys.default: alias "default" is already set by `key`'
    ]


def test_tls_cert_that_does_not_exist(tmp_path):
    (error,) = errors_of(tmp_path, '[server]\ntls_cert = "nope.pem"\ntls_key = "nope.key"\n')[:1]
    assert error == f"aigw.toml:2: server.tls_cert: expected a readable file, but {tmp_path / 'nope.pem'} is not one"


def test_tls_cert_without_key(tmp_path):
    (tmp_path / "cert.pem").write_text("x")
    assert errors_of(tmp_path, '[server]\ntls_cert = "cert.pem"\n') == [
        "aigw.toml:2: server.tls_cert: needs server.tls_key too (both or neither)"
    ]


def test_plugins_enabled_must_be_a_list_of_strings(tmp_path):
    assert errors_of(tmp_path, "[plugins]\nenabled = ['a', 2]\n") == [
        "aigw.toml:2: plugins.enabled[1]: expected a string, got 2"
    ]


def test_quoted_table_names_are_located(tmp_path):
    text = '[gateways."default"]\n\nretry = { max_attempts = 0 }\n'
    assert errors_of(tmp_path, text) == [
        "aigw.toml:3: gateways.default.retry.max_attempts: expected an integer 1-5, got 0"
    ]


def test_seconds_accept_fractions_but_not_text(tmp_path):
    assert errors_of(tmp_path, "[server]\nping_interval = 2.5\nidle_timeout = 'long'\n") == [
        'aigw.toml:3: server.idle_timeout: expected a number of seconds 0-86400, got "long"'
    ]
