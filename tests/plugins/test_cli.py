"""`aigw plugins`: installed and enabled plugins, versions, registrations; --json."""

from __future__ import annotations

import click
import orjson
import pytest
from click.testing import CliRunner
from plugin_site import provider_plugin, requires_echo

from aigw import hookimpl
from aigw.cli import cli
from aigw.commands.plugins import load_plugin_commands
from aigw.testing.plugins import register_plugin


@pytest.fixture
def invoke(monkeypatch):
    for name in ("AIGW_PLUGINS", "AIGW_DISABLE_PLUGINS", "AIGW_CONFIG", "AIGW_TRACE_PLUGINS"):
        monkeypatch.delenv(name, raising=False)

    def invoke(*args: str):
        return CliRunner().invoke(cli, ["plugins", *args], catch_exceptions=False)

    return invoke


def rows(result) -> dict[str, dict]:
    assert result.exit_code == 0, result.output
    return {row["name"]: row for row in orjson.loads(result.output)}


def test_the_table_lists_builtins_with_version_and_what_they_register(invoke):
    result = invoke()
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "STATUS"]
    assert lines[1].split()[:3] == ["aigw.builtins.providers", "aigw", "(built-in)"]
    assert lines[2].startswith("    providers: openai, anthropic")


@requires_echo
def test_the_table_shows_the_echo_plugin_and_its_registrations(invoke):
    output = invoke().output
    assert any(line.split()[:2] == ["echo", "aigw-echo"] and line.endswith("enabled") for line in output.splitlines())
    assert "    routes: POST /__echo/chat/completions" in output


def test_json_output_has_one_object_per_plugin(invoke):
    row = rows(invoke("--json"))["aigw.builtins.providers"]
    assert (row["source"], row["distribution"], row["enabled"]) == ("builtin", "aigw", True)
    assert "custom-*" in row["registers"]["providers"]


def test_a_third_party_plugin_shows_as_installed_but_not_enabled(invoke, site):
    site.module("thirdparty_listed", "raise RuntimeError('imported')\n")
    site.distribution("thirdparty-listed", "3.1", {"listed": "thirdparty_listed"})
    row = rows(invoke("--json"))["listed"]
    assert (row["distribution"], row["version"], row["enabled"], row["registers"]) == ("thirdparty-listed", "3.1", False, {})
    assert "installed, not enabled" in invoke().output


def test_the_config_file_enabled_list_applies(invoke, site, tmp_path):
    site.module("aigw_listed", provider_plugin("listed"))
    site.distribution("aigw-listed", "1.0", {"listed": "aigw_listed"})
    config = tmp_path / "aigw.toml"
    config.write_text("[plugins]\nenabled = []\n")
    assert rows(invoke("--json"))["listed"]["enabled"] is True
    assert rows(invoke("--json", "--config", str(config)))["listed"]["enabled"] is False


def test_a_broken_plugin_is_reported_with_its_name_and_a_failing_exit_code(invoke, site):
    site.module("aigw_kaputt", "import not_there_at_all\n")
    site.distribution("aigw-kaputt", "0.0.1", {"kaputt": "aigw_kaputt"})
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 1
    assert "plugin 'kaputt' (aigw-kaputt 0.0.1) failed to import" in result.output


class HelloCommand:
    @hookimpl
    def register_commands(self, cli):
        @cli.command("hello")
        def hello():
            """Say hello."""
            click.echo("hello from a plugin")


def test_plugin_commands_are_added_to_the_cli_and_listed(invoke):
    with register_plugin(HelloCommand(), name="hello-plugin"):
        group = click.Group("aigw")
        load_plugin_commands(group)
        listed = rows(invoke("--json"))["hello-plugin"]
    assert CliRunner().invoke(group, ["hello"]).output == "hello from a plugin\n"
    assert listed["registers"] == {"commands": ["hello"]}


def test_a_broken_plugin_does_not_break_the_rest_of_the_command_line(site, monkeypatch):
    monkeypatch.delenv("AIGW_PLUGINS", raising=False)
    site.module("aigw_kaputt2", "raise RuntimeError('boom')\n")
    site.distribution("aigw-kaputt2", "0.0.1", {"kaputt2": "aigw_kaputt2"})
    group = click.Group("aigw")
    load_plugin_commands(group)  # warns on stderr, adds nothing
    assert group.commands == {}
