"""`aigw check-config` prints every dynamic route as a tree."""

from click.testing import CliRunner

from aigw.cli import cli

CONFIG = """
[routes.support]
start = "plan"
[routes.support.elements.plan]
type = "conditional"
when = { "metadata.plan" = "pro" }
then = "claude"
else = "gpt"
[routes.support.elements.claude]
type = "model"
provider = "anthropic"
model = "claude-sonnet-4-5"
timeout = 5000
fallback = "gpt"
[routes.support.elements.gpt]
type = "model"
provider = "openai"
model = "gpt-4o-mini"
"""


def test_check_config_prints_each_dynamic_route_as_a_tree(tmp_path):
    path = tmp_path / "aigw.toml"
    path.write_text(CONFIG)
    env = {"AIGW_DATA_DIR": str(tmp_path / "data"), "AIGW_CONFIG": None}
    result = CliRunner().invoke(cli, ["check-config", "--config", str(path)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    tree = result.stdout.split("dynamic routes:\n", 1)[1]
    assert tree.startswith(
        "  dynamic/support\n"
        "    plan: if metadata.plan $eq 'pro'\n"
        "      then → claude: model anthropic/claude-sonnet-4-5, timeout=5000\n"
        "        fallback → gpt: model openai/gpt-4o-mini\n"
        "      else → gpt: model openai/gpt-4o-mini\n"
    )
