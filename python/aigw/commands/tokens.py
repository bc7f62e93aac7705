"""`aigw tokens create | list | revoke`: manage gateway auth tokens.

They live in the token store of the first chosen auth backend (`[auth] backends`) that keeps
one: the built-in `tokens` backend's `<data_dir>/aigw.db`, or a plugin backend's `store` (e.g.
aigw-postgres's `postgres`, shared by several machines). A plugin store has the same
`create`/`list`/`revoke`/`close` methods, synchronous or async.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from pathlib import Path
from typing import Any

import click

from aigw.auth import TokenInfo, TokenStore, TokenStoreError
from aigw.commands.settings_option import config_option, load_settings_or_exit
from aigw.config import Settings

__all__ = ["tokens"]


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _status(info: TokenInfo) -> str:
    if info.revoked:
        return "revoked"
    return "config" if info.source == "config" else "active"


class _Store:
    """A token store driven from synchronous code: awaitable results run on a private loop
    (one for the command's life, so a store's connection stays on it)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._loop = asyncio.new_event_loop()

    def _wait(self, result: Any) -> Any:
        return self._loop.run_until_complete(result) if inspect.isawaitable(result) else result

    def create(self, name: str, gateway: str | None) -> tuple[str, TokenInfo]:
        return self._wait(self.store.create(name=name, gateway=gateway))

    def list(self) -> list[TokenInfo]:
        return self._wait(self.store.list())

    def revoke(self, token_id: str) -> TokenInfo:
        return self._wait(self.store.revoke(token_id))

    def close(self) -> None:
        try:
            self._wait(self.store.close())
        finally:
            self._loop.close()


def open_token_store(settings: Settings) -> _Store:
    """The store of the first chosen auth backend that keeps tokens (see the module docstring)."""
    from aigw.commands.check_config import select_or_exit
    from aigw.components import build
    from aigw.plugins import PluginManager
    from aigw.types import PluginContext

    chosen = select_or_exit(settings).auth_backends
    for name in chosen:
        if name == "tokens":
            return _Store(TokenStore.for_settings(settings))
        regs = PluginManager(settings.plugins.enabled).load().registries()
        ctx = PluginContext(name, settings.plugin_config.get(name, {}), settings, Path(settings.data_dir))
        store = getattr(build(regs.auth_backends, name, ctx), "store", None)
        if store is not None:
            return _Store(store)
    raise click.ClickException(f"none of the chosen auth backends ({', '.join(chosen) or 'none'}) stores tokens")


@click.group(
    epilog="""\b
Examples:
  aigw tokens create --name ci            # prints the token once
  aigw tokens create --gateway bench      # a token that opens only gateway "bench"
  aigw tokens list
  aigw tokens revoke 1a51344d014d         # by id (or pass the token itself)
""",
)
def tokens() -> None:
    """Create, list and revoke gateway auth tokens.

    Tokens are stored hashed in the data directory's aigw.db (or the token store of the
    first auth backend chosen in [auth] backends, e.g. PostgreSQL); clients send them as
    `cf-aig-authorization: Bearer <token>`. A running server picks up changes within seconds."""


@tokens.command("create")
@config_option
@click.option("--name", default="", help="A label to recognise the token by.")
@click.option("--gateway", default=None, help="Restrict the token to this gateway (default: every gateway).")
def create(config_path: Path | None, name: str, gateway: str | None) -> None:
    """Create a token and print it (shown only this once)."""
    settings = load_settings_or_exit(config_path, log_warnings=False)
    if gateway is not None and gateway not in settings.gateways:
        raise click.BadParameter(
            f"no gateway {gateway!r} in the configuration (have: {', '.join(settings.gateways)})",
            param_hint="--gateway",
        )
    store = open_token_store(settings)
    try:
        token, info = store.create(name=name, gateway=gateway)
    finally:
        store.close()
    scope = f"gateway {gateway}" if gateway else "every gateway"
    click.echo(f"created token {info.id} for {scope}; it is shown only now, store it safely:", err=True)
    click.echo(token)


@tokens.command("list")
@config_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line instead of a table.")
def list_(config_path: Path | None, as_json: bool) -> None:
    """List tokens (ids and metadata; never the tokens themselves)."""
    settings = load_settings_or_exit(config_path, log_warnings=False)
    store = open_token_store(settings)
    try:
        infos = store.list()
    finally:
        store.close()
    if as_json:
        for info in infos:
            click.echo(json.dumps({
                "id": info.id, "name": info.name, "gateway": info.gateway, "source": info.source,
                "created_at": info.created_at, "last_used": info.last_used, "revoked": info.revoked,
            }))
        return
    if not infos:
        click.echo("no tokens (create one with: aigw tokens create --name NAME)")
        return
    rows = [("ID", "STATUS", "GATEWAY", "CREATED", "LAST USED", "NAME")]
    rows += [
        (i.id, _status(i), i.gateway or "*", _when(i.created_at), _when(i.last_used), i.name) for i in infos
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(5)]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[5])


@tokens.command("revoke")
@config_option
@click.argument("token_id", metavar="ID")
def revoke(config_path: Path | None, token_id: str) -> None:
    """Revoke a token by its id (from `aigw tokens list`) or by the token itself."""
    settings = load_settings_or_exit(config_path, log_warnings=False)
    store = open_token_store(settings)
    try:
        info = store.revoke(token_id)
    except TokenStoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()
    click.echo(f"revoked token {info.id}" + (f" ({info.name})" if info.name else ""))
