"""`aigw check-config`: validate the configuration and print what it amounts to, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import click

from aigw.commands.settings_option import config_option, load_settings_or_exit
from aigw.compat.routes import describe as describe_route
from aigw.components import IN_PROCESS, Selection, select
from aigw.config import ConfigError, GatewaySettings, ProviderSettings, Settings
from aigw.errors import PluginError
from aigw.plugins import PluginManager
from aigw.secret import Secret

__all__ = ["check_config", "describe_selection", "describe_settings", "select_or_exit"]


def select_or_exit(settings: Settings) -> Selection:
    """Load the enabled plugins and resolve `[cache]`, `[rate_limit]`, `[logs]` and `[auth]`
    against what they register; on an unknown name or a broken plugin print why and exit 1."""
    try:
        regs = PluginManager(settings.plugins.enabled).load().registries()
        return select(settings, regs)
    except ConfigError as exc:
        click.echo(f"aigw: invalid configuration ({len(exc.issues)} problem(s)):", err=True)
        for issue in exc.issues:
            click.echo(f"  {issue}", err=True)
        raise SystemExit(1) from None
    except PluginError as exc:
        click.echo(f"aigw: {exc}", err=True)
        raise SystemExit(1) from None


def _scope(name: str | None) -> str:
    if name is None:
        return "none"
    return f"{name} (in process: per worker)" if name in IN_PROCESS else f"{name} (shared)"


def describe_selection(selection: Selection) -> str:
    """Which cache, rate limiter, loggers and auth backends the gateway will use."""
    lines = [
        "components:",
        f"  cache: {_scope(selection.cache)}",
        f"  rate_limit: {_scope(selection.rate_limiter)}",
        f"  logs: {', '.join(selection.loggers) or 'none'}",
        f"  auth: {', '.join(selection.auth_backends) or 'none'}",
    ]
    lines += [f"  warning: {w}" for w in selection.warnings]
    return "\n".join(lines)


def _secret_label(secret: Secret) -> str:
    return "(literal, hidden)" if secret.source == "literal" else secret.source


def _gateway_line(gw: GatewaySettings) -> str:
    parts = [
        f"authentication={'on' if gw.authentication else 'off'}",
        f"logs={'on' if gw.collect_logs else 'off'}",
        f"cache_ttl={gw.cache_ttl}s" if gw.cache_ttl else "cache=off",
    ]
    if gw.account_id:
        parts.append(f"account_id={gw.account_id}")
    rl = gw.rate_limit
    parts.append(f"rate_limit={rl.limit}/{rl.interval}s {rl.technique}" if rl.limit else "rate_limit=off")
    rt = gw.retry
    if rt.max_attempts > 1:
        parts.append(f"retry={rt.max_attempts}x {rt.delay_ms}ms {rt.backoff}")
    if gw.request_timeout_ms:
        parts.append(f"timeout={gw.request_timeout_ms}ms")
    if gw.tokens:
        parts.append(f"tokens={len(gw.tokens)}")
    return f"  {gw.name}: " + ", ".join(parts)


def _provider_line(p: ProviderSettings) -> str:
    parts = [f"base_url={p.base_url}" if p.base_url else "base_url=(provider default)"]
    if p.format:
        parts.append(f"format={p.format}")
    if p.keys:
        parts.append("keys: " + ", ".join(f"{alias}={_secret_label(s)}" for alias, s in p.keys.items()))
    else:
        parts.append("no stored key (clients send theirs)")
    if p.options:
        parts.append("options: " + ", ".join(sorted(p.options)))
    return f"  {p.name}: " + "; ".join(parts)


def describe_settings(settings: Settings) -> str:
    """A human summary of `settings`; shows where secrets come from, never their values."""
    s = settings.server
    scheme = "https/wss" if s.tls_cert else "http/ws"
    lines = [
        f"config: {settings.source or '(none: built-in defaults)'}",
        f"data_dir: {settings.data_dir}",
        f"server: {s.host}:{s.port} ({scheme}), workers={s.workers}, max_message_size={s.max_message_size}, "
        f"max_inflight_per_connection={s.max_inflight_per_connection}",
        f"upstream: pool_size_per_host={settings.upstream.pool_size_per_host}, "
        f"connect_timeout_ms={settings.upstream.connect_timeout_ms}"
        + (f", ca_file={settings.upstream.ca_file}" if settings.upstream.ca_file else ""),
        "plugins enabled: " + ", ".join(settings.plugins.enabled),
    ]
    if settings.plugin_config:
        lines.append("plugin settings for: " + ", ".join(sorted(settings.plugin_config)))
    lines.append("gateways:")
    lines += [_gateway_line(gw) for gw in settings.gateways.values()]
    if settings.providers:
        lines.append("providers:")
        lines += [_provider_line(p) for p in settings.providers.values()]
    if settings.routes:
        lines.append("dynamic routes:")
        for route in settings.routes.values():
            lines += ["  " + line for line in describe_route(route).splitlines()]
    if settings.tokens:
        lines.append("tokens for every gateway: " + ", ".join(_secret_label(t) for t in settings.tokens))
    if settings.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in settings.warnings]
    return "\n".join(lines)


@click.command(
    "check-config",
    short_help="Validate the configuration (secrets are never shown).",
    epilog="""\b
Examples:
  aigw check-config --config aigw.toml
  AIGW_SERVER__PORT=9000 aigw check-config   # environment overrides apply too
""",
)
@config_option
def check_config(config_path: Path | None) -> None:
    """Validate the configuration and print a summary (secrets hidden), including which
    cache, rate limiter, loggers and auth backends the enabled plugins provide for it.

    Exits 0 when valid, 1 with every problem listed (file:line, key, what was expected)."""
    settings = load_settings_or_exit(config_path, log_warnings=False)
    selection = select_or_exit(settings)
    click.echo(describe_settings(settings))
    click.echo(describe_selection(selection))
    click.echo("configuration OK")
