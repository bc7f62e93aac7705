"""`aigw serve`: load the configuration, make sure a token exists, run N worker processes.

The only place that picks the event loop (uvloop by default, through `aigw.server.loops`,
which makes the loop without installing a policy). With `--workers N > 1` the process forks N
workers after the configuration is loaded and the first token is made; each binds the port
itself with SO_REUSEPORT so the kernel spreads connections across them, and the parent only
supervises: SIGINT/SIGTERM are passed on as SIGTERM (graceful shutdown), and a worker that dies
on its own stops the rest and sets the exit status.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path

import click

from aigw.auth import TokenStore, ensure_first_token
from aigw.commands.check_config import select_or_exit
from aigw.commands.settings_option import config_option, load_settings_or_exit
from aigw.components import per_process_warnings
from aigw.config import Settings

__all__ = ["serve"]

log = logging.getLogger("aigw.serve")
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    s = settings.server
    if s.tls_cert is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(s.tls_cert, s.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise click.ClickException(f"cannot load server.tls_cert/tls_key ({s.tls_cert}, {s.tls_key}): {exc}") from None
    return context


async def _serve_until_signal(settings: Settings, context: ssl.SSLContext | None, reuse_port: bool) -> int:
    from aigw.errors import AigwError
    from aigw.gateway import Gateway

    s = settings.server
    gateway = Gateway(settings)
    try:
        await gateway.start()
        server = await gateway.serve(ssl=context, reuse_port=reuse_port)
    except OSError as exc:
        log.error("cannot listen on %s:%d: %s", s.host, s.port, exc.strerror or exc)
        await gateway.stop(grace=0)
        return 1
    except AigwError as exc:
        log.error("%s", exc)
        await gateway.stop(grace=0)
        return 1
    tune_gc(s.gc_threshold)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in _STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "Universal WebSocket API at %s://%s:%d/v1/{account_id}/{gateway_id} (gateways: %s)",
        "wss" if context else "ws", s.host, server.port, ", ".join(sorted(settings.gateways)),
    )
    log.info("listening on %s://%s:%d/ (pid %d)", "https" if context else "http", s.host, server.port, os.getpid())
    await stop.wait()
    log.info("shutting down (grace %gs)", s.shutdown_grace)
    await gateway.stop()
    log.info("stopped")
    return 0


def tune_gc(threshold: int) -> None:
    """Make Python's cyclic garbage collector cheap for a long-running server: freeze the heap
    built at start-up (modules, config, plugins: never garbage) so full passes skip it, and run
    young passes every `threshold` container allocations instead of every 700. Every request
    makes many containers, so with the default young passes ran often, each scanning every
    object of the requests in flight and of the log backlog (measured in an A/B: 4.4 µs per request
    with logs off, 5.6 µs with logs on; benches/README.md). Cyclic garbage waits longer to be
    collected; memory freed by reference counting, nearly all of it, is unaffected.
    0 leaves the collector as Python set it."""
    if threshold <= 0:
        return
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(threshold, older, oldest)


def _run_worker(settings: Settings, loop_name: str, reuse_port: bool) -> int:
    from aigw.server.loops import run

    return run(_serve_until_signal(settings, _tls_context(settings), reuse_port), loop_name)


def _supervise(count: int, worker: Callable[[], int]) -> int:
    """Fork `count` processes running `worker`; wait for them; return the exit status."""
    children: dict[int, int] = {}
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, frame: object = None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    # Block the stop signals while forking so neither side runs the other's handler.
    signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        for index in range(count):
            pid = os.fork()
            if pid == 0:  # worker
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
                code = 1
                try:
                    code = worker()
                except BaseException:  # noqa: BLE001 - report anything, then exit the child
                    log.exception("worker %d crashed", index)
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            children[pid] = index
        for sig in _STOP_SIGNALS:
            signal.signal(sig, stop_all)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    status = 0
    while children:
        try:
            pid, wait_status = os.wait()
        except ChildProcessError:
            break
        index = children.pop(pid, -1)
        code = os.waitstatus_to_exitcode(wait_status)
        if not stopping:
            log.error("worker %s (pid %d) exited with status %d; stopping the others", index, pid, code)
            status = code or 1
            stop_all()
        elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
            status = status or code
    return status


@click.command(
    epilog="""\b
Examples:
  aigw serve                                # defaults: 127.0.0.1:8787, data in ./.aigw/
  aigw serve --config aigw.toml --workers 4
  AIGW_SERVER__PORT=9000 aigw serve         # any key from the environment
""",
)
@config_option
@click.option("--host", default=None, help="Address to listen on [default: server.host, 127.0.0.1].")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port [default: server.port, 8787; 0: any free port].")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Processes sharing the port [default: server.workers, 1].")
@click.option("--loop", "loop_name", type=click.Choice(["uvloop", "asyncio", "auto"]), default="uvloop", show_default=True, help="Event loop.")
def serve(config_path: Path | None, host: str | None, port: int | None, workers: int | None, loop_name: str) -> None:
    """Run the gateway (HTTP and WebSocket) until SIGINT/SIGTERM.

    On first start, when a gateway requires authentication and no token exists, a token is
    created and printed once in the log."""
    settings = load_settings_or_exit(config_path)
    s = settings.server
    s = dataclasses.replace(
        s,
        host=s.host if host is None else host,
        port=s.port if port is None else port,
        workers=s.workers if workers is None else workers,
    )
    settings = dataclasses.replace(settings, server=s)
    if s.port == 0 and s.workers > 1:
        raise click.UsageError("--port 0 picks a different port per worker; give a port with --workers > 1")
    _tls_context(settings)  # fail here, once, rather than in every worker
    selection = select_or_exit(settings)
    for warning in per_process_warnings(selection, s.workers):
        log.warning("%s", warning)

    token = None
    if "tokens" in selection.auth_backends:  # a first token in aigw.db only helps if it is read
        store = TokenStore.for_settings(settings)
        try:
            token = ensure_first_token(settings, store)
        finally:
            store.close()
    if token is not None:
        log.warning("first auth token, shown only this once (clients send `cf-aig-authorization: Bearer <token>`): %s", token)

    log.info("aigw serving %d gateway(s) with data in %s", len(settings.gateways), settings.data_dir)
    if s.workers == 1:
        code = _run_worker(settings, loop_name, reuse_port=False)
    else:
        log.info("starting %d workers on port %d (SO_REUSEPORT)", s.workers, s.port)
        code = _supervise(s.workers, lambda: _run_worker(settings, loop_name, reuse_port=True))
    if code:
        raise SystemExit(code if code > 0 else 1)
