"""The CLI through click's CliRunner: --version, check-config, tokens create/list/revoke."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from aigw import __version__
from aigw.cli import cli

SECRET = "sk-never-print-me-0123456789"


@pytest.fixture
def env(tmp_path):
    """An environment with the data directory in tmp_path and no stray AIGW_* variables."""
    return {"AIGW_DATA_DIR": str(tmp_path / "data"), "AIGW_CONFIG": None}


def run(args, env, input=None):
    return CliRunner().invoke(cli, args, env=env, input=input, catch_exceptions=False)


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"aigw, version {__version__}"


def test_help_lists_the_commands_with_examples():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "tokens", "check-config"):
        assert command in result.stdout
    assert "Examples:" in result.stdout


def test_python_dash_m_aigw_help_runs_in_a_real_process():
    out = subprocess.run([sys.executable, "-m", "aigw", "--help"], capture_output=True, text=True, check=True)
    assert "check-config" in out.stdout and "serve" in out.stdout and "tokens" in out.stdout


def test_check_config_valid_exits_0_with_a_summary_without_secrets(tmp_path, env):
    path = tmp_path / "aigw.toml"
    path.write_text(f'[providers.openai]\nkey = "{SECRET}"\nkeys = {{ backup = "env:BACKUP_KEY" }}\n[gateways.bench]\nauthentication = false\n')
    result = run(["check-config", "--config", str(path)], {**env, "BACKUP_KEY": SECRET + "-b"})
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert "openai: base_url=(provider default); keys: default=(literal, hidden), backup=env:BACKUP_KEY" in result.stdout
    assert "bench: authentication=off" in result.stdout
    assert result.stdout.endswith("configuration OK\n")


def test_check_config_prints_warnings_for_unset_env_keys(tmp_path, env):
    path = tmp_path / "aigw.toml"
    path.write_text('[providers.openai]\nkey = "env:OPENAI_API_KEY"\n')
    result = run(["check-config", "--config", str(path)], {**env, "OPENAI_API_KEY": None})
    assert result.exit_code == 0
    assert f"{path}:2: providers.openai.key: OPENAI_API_KEY is not set" in result.stdout


def test_check_config_invalid_exits_1_listing_every_error(tmp_path, env):
    path = tmp_path / "aigw.toml"
    path.write_text(f'[server]\nport = "eighty"\n[providers.openai]\nkey = "{SECRET}"\nbase_ulr = "x"\n')
    result = run(["check-config", "--config", str(path)], env)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "aigw: invalid configuration (2 problem(s)):",
        f'  {path}:2: server.port: expected an integer 1-65535, got "eighty"',
        f'  {path}:5: providers.openai.base_ulr: unknown key (did you mean "base_url"?)',
    ]
    assert SECRET not in result.output


def test_check_config_reads_aigw_config(tmp_path, env):
    path = tmp_path / "aigw.toml"
    path.write_text("[server]\nport = 9123\n")
    result = run(["check-config"], {**env, "AIGW_CONFIG": str(path)})
    assert result.exit_code == 0 and "server: 127.0.0.1:9123" in result.stdout


def test_check_config_with_no_file_uses_defaults(env):
    result = run(["check-config"], env)
    assert result.exit_code == 0
    assert "config: (none: built-in defaults)" in result.stdout
    assert "default: authentication=on" in result.stdout


def test_tokens_create_prints_the_token_alone_on_stdout(env):
    result = run(["tokens", "create", "--name", "laptop"], env)
    assert result.exit_code == 0
    (token,) = result.stdout.split()
    assert token.startswith("aigw_")
    assert "shown only now" in result.stderr


def test_tokens_list_shows_ids_and_names_never_tokens(env):
    token = run(["tokens", "create", "--name", "laptop"], env).stdout.strip()
    result = run(["tokens", "list"], env)
    assert result.exit_code == 0
    assert token not in result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["ID", "STATUS", "GATEWAY", "CREATED", "LAST", "USED", "NAME"]
    assert row.split()[1:3] == ["active", "*"] and row.endswith("laptop")


def test_tokens_list_json(env):
    run(["tokens", "create", "--name", "a", "--gateway", "default"], env)
    (line,) = run(["tokens", "list", "--json"], env).stdout.splitlines()
    record = json.loads(line)
    assert (record["name"], record["gateway"], record["source"], record["revoked"]) == ("a", "default", "db", False)


def test_tokens_list_empty(env):
    assert "no tokens" in run(["tokens", "list"], env).stdout


def test_tokens_revoke_by_id(env):
    run(["tokens", "create", "--name", "old"], env)
    token_id = json.loads(run(["tokens", "list", "--json"], env).stdout)["id"]
    result = run(["tokens", "revoke", token_id], env)
    assert result.exit_code == 0 and result.stdout == f"revoked token {token_id} (old)\n"
    assert json.loads(run(["tokens", "list", "--json"], env).stdout)["revoked"] is True


def test_tokens_revoke_unknown_id_fails(env):
    result = CliRunner().invoke(cli, ["tokens", "revoke", "0123456789ab"], env=env)
    assert result.exit_code == 1 and "no token with id 0123456789ab" in result.stderr


def test_tokens_create_for_an_unknown_gateway_fails(env):
    result = CliRunner().invoke(cli, ["tokens", "create", "--gateway", "nope"], env=env)
    assert result.exit_code == 2 and "no gateway 'nope'" in result.stderr


def test_tokens_commands_stop_on_an_invalid_configuration(tmp_path, env):
    path = tmp_path / "aigw.toml"
    path.write_text("[server]\nport = -1\n")
    result = CliRunner().invoke(cli, ["tokens", "list", "--config", str(path)], env=env)
    assert result.exit_code == 1 and "server.port: expected an integer 1-65535, got -1" in result.stderr


def test_log_level_option_sets_the_root_level(env):
    import logging

    result = run(["--log-level", "debug", "check-config"], env)
    assert result.exit_code == 0
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    run(["check-config"], env)
    assert logging.getLogger().getEffectiveLevel() == logging.INFO
