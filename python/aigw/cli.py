"""The `aigw` command line. The only place that chooses an event loop (uvloop)."""

from __future__ import annotations

import click

from aigw import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aigw")
def cli() -> None:
    """aigw: a self-hosted AI gateway with a multiplexed WebSocket API."""


# ---- plugins (plugins helper) ----
from aigw.commands.plugins import load_plugin_commands, plugins_command  # noqa: E402

cli.add_command(plugins_command)
# ---- end plugins ----


def main() -> None:
    """Entry point of the `aigw` script."""
    load_plugin_commands(cli)  # plugins helper: subcommands from enabled plugins
    cli()


# ---- logs (logs helper) ----
from aigw.commands.logs import logs_command  # noqa: E402

cli.add_command(logs_command)
# ---- end logs ----
