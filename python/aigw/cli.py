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


def main() -> None:
    """Entry point of the `aigw` script."""
    load_plugin_commands(cli)  # plugins helper: subcommands from enabled plugins
    cli()
