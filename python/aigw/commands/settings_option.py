"""The `--config` option shared by commands that read the configuration, and loading it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from aigw.config import ConfigError, Settings, load_settings

__all__ = ["config_option", "load_settings_or_exit"]

log = logging.getLogger("aigw.config")


def config_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add `--config PATH` (default: $AIGW_CONFIG, else built-in defaults) to a command."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="TOML configuration file. Default: $AIGW_CONFIG, else built-in defaults.",
    )(command)


def load_settings_or_exit(config_path: Path | None, *, log_warnings: bool = True) -> Settings:
    """Load and validate the configuration; on errors print them all to stderr and exit 1."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(f"aigw: invalid configuration ({len(exc.issues)} problem(s)):", err=True)
        for issue in exc.issues:
            click.echo(f"  {issue}", err=True)
        raise SystemExit(1) from None
    if log_warnings:
        for warning in settings.warnings:
            log.warning("%s", warning)
    return settings
