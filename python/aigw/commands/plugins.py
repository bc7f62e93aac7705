"""`aigw plugins`: which plugins are installed, which are enabled, and what each registers."""

from __future__ import annotations

import os
import sys
from typing import Any, Sequence

import click
import orjson

from aigw.errors import PluginError


def enabled_from_config(path: str | None) -> Sequence[str]:
    """`plugins.enabled` from the configuration at `path` (else $AIGW_CONFIG, else the default
    ["*"]), environment overrides included. An invalid configuration raises a ClickException
    listing its problems."""
    from aigw.config import ConfigError, load_settings

    try:
        return load_settings(path).plugins.enabled
    except ConfigError as exc:
        problems = "".join(f"\n  {issue}" for issue in exc.issues)
        raise click.ClickException(f"invalid configuration:{problems}") from None


def load_plugin_commands(cli: click.Group) -> None:
    """Let the enabled plugins add their subcommands to `cli`. A plugin error is reported on
    stderr and does not stop the command line (so `aigw plugins` can still diagnose it)."""
    from aigw.plugins import PluginManager

    try:
        PluginManager(enabled_from_config(os.environ.get("AIGW_CONFIG"))).load().register_commands(cli)
    except (PluginError, click.ClickException) as exc:
        click.echo(f"aigw: warning: plugin commands not loaded: {getattr(exc, 'message', exc)}", err=True)


def _rows(infos: list[Any], routes: Any = ()) -> list[dict[str, Any]]:
    """One JSON object per plugin; `route_auth` lists each route it registers with whether
    the gateway authenticates it (False: the plugin registered it `public`)."""
    out = []
    for i in infos:
        row = {
            "name": i.name,
            "module": i.module,
            "source": i.source,
            "distribution": i.distribution,
            "version": i.version,
            "enabled": i.enabled,
            "registers": i.registers,
        }
        owner = f"plugin {i.label}"
        mine = [{"method": r.method, "path": r.pattern, "authenticated": not r.public} for r in routes if r.owner == owner]
        if mine:
            row["route_auth"] = mine
        out.append(row)
    return out


def render_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table: one line per plugin, then one indented line per kind it registers."""
    head = ("NAME", "DISTRIBUTION", "VERSION", "STATUS")
    lines = [
        (
            r["name"],
            (r["distribution"] or "-") + (" (built-in)" if r["source"] == "builtin" else ""),
            r["version"] or "-",
            "enabled" if r["enabled"] else "installed, not enabled",
        )
        for r in rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head).rstrip()]
    public = False
    for row, line in zip(rows, lines, strict=True):
        out.append(fmt.format(*line).rstrip())
        for kind, names in row["registers"].items():
            out.append(f"    {kind}: {', '.join(names)}")
        public = public or any(not r["authenticated"] for r in row.get("route_auth", ()))
    if public:
        out.append("\nRoutes marked public answer without a gateway token; every other route needs one.")
    return "\n".join(out)


@click.command("plugins")
@click.option("--config", "config_path", envvar="AIGW_CONFIG", type=click.Path(dir_okay=False),
              help="Config file whose plugins.enabled applies (default: $AIGW_CONFIG, else all first-party).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins_command(config_path: str | None, as_json: bool) -> None:
    """Show plugins: installed, enabled, what each registers."""
    from aigw.plugins import PluginManager

    try:
        pm = PluginManager(enabled_from_config(config_path)).load()
        pm.register_commands(click.Group())  # a scratch group, only to see what each adds
        rows = _rows(pm.list_plugins(), pm.registries().routes)
    except PluginError as exc:
        raise click.ClickException(exc.message) from exc
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        click.echo(render_table(rows))
