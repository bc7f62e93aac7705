"""The `aigw` command line. The only place that chooses an event loop (uvloop)."""

from __future__ import annotations

import click

from aigw import __version__
from aigw.commands.logging_setup import LOG_LEVELS, setup_logging


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="""\b
Examples:
  aigw demo                          # see it work offline, with simulated providers
  aigw serve --config aigw.toml      # run the gateway
  aigw check-config --config aigw.toml
  aigw tokens create --name laptop   # a token for cf-aig-authorization
Run `aigw COMMAND --help` for a command's options.""",
)
@click.version_option(__version__, prog_name="aigw")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
    envvar="AIGW_LOG_LEVEL",
    help="Log records at this level and above go to stderr.",
)
def cli(log_level: str) -> None:
    """aigw: a self-hosted AI gateway with a multiplexed WebSocket API."""
    setup_logging(log_level)


# ---- server core: `aigw echo` (server helper) ----------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port to listen on.")
@click.option("--tls-cert", "--certfile", "certfile", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate (chain): serve wss://.")
@click.option("--tls-key", "--keyfile", "keyfile", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key for --tls-cert.")
@click.option("--loop", "loop_name", type=click.Choice(["auto", "uvloop", "asyncio"]), default="auto",
              show_default=True, help="Event loop.")
@click.option("--no-deflate", is_flag=True, help="Do not negotiate permessage-deflate.")
def echo(host: str, port: int, certfile: str | None, keyfile: str | None, loop_name: str, no_deflate: bool) -> None:
    """Run the WebSocket echo server (Autobahn, benchmarks). Stops gracefully on SIGTERM/SIGINT."""
    import asyncio
    import signal
    import ssl

    from aigw.server import serve
    from aigw.server.echo import EchoApp, echo_settings
    from aigw.server.loops import run

    context = None
    if certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certfile, keyfile)
    elif keyfile:
        raise click.UsageError("--tls-key needs --tls-cert")

    async def main() -> None:
        server = await serve(EchoApp(), host, port, ssl=context,
                             settings=echo_settings(permessage_deflate=not no_deflate))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        scheme = "wss" if context else "ws"
        click.echo(f"aigw echo listening on {scheme}://{host}:{server.port}/", err=True)
        await stop.wait()
        await server.close(grace=5.0)

    run(main(), loop_name)


# ---- end server core ------------------------------------------------------------------------


# ---- commands defined in their own modules ---------------------------------------------------

from aigw.commands.bench import bench as _bench  # noqa: E402
from aigw.commands.check_config import check_config as _check_config  # noqa: E402
from aigw.commands.demo import demo as _demo  # noqa: E402
from aigw.commands.logs import logs_command  # noqa: E402
from aigw.commands.plugins import load_plugin_commands, plugins_command  # noqa: E402
from aigw.commands.serve import serve as _serve  # noqa: E402
from aigw.commands.tokens import tokens as _tokens  # noqa: E402

for _command in (_serve, _demo, _tokens, _check_config, logs_command, plugins_command, _bench):
    cli.add_command(_command)


def main() -> None:
    """Entry point of the `aigw` script."""
    load_plugin_commands(cli)  # subcommands from enabled plugins
    cli()

