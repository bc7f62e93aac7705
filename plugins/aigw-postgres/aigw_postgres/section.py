"""The `[plugins.postgres]` section, shared by the logger and the auth backend: both read the
same `dsn`, and each accepts the other's keys (one section per plugin)."""

from __future__ import annotations

from pathlib import Path

from aigw.builtins.log_batcher import BATCHER_CONFIG_KEYS
from aigw.builtins.plugin_config import SectionReader
from aigw.errors import ConfigError
from aigw.secret import Secret, resolve_secret
from aigw.types import PluginContext

__all__ = ["SECTION_KEYS", "read_section"]

LOGGER_KEYS = {"close_timeout_ms", "retention_days"} | BATCHER_CONFIG_KEYS
TOKEN_KEYS = {"token_sync_interval"}
SECTION_KEYS = {"dsn", "connect_timeout_ms"} | LOGGER_KEYS | TOKEN_KEYS


def read_section(ctx: PluginContext) -> tuple[SectionReader, Secret]:
    """The section reader (unknown keys are errors) and the resolved `dsn` (required;
    env:/file: like every secret). Raises ConfigError."""
    section = SectionReader(ctx.name, ctx.config, SECTION_KEYS)
    spec = section.string("dsn", None)
    if not spec:
        raise ConfigError(f"plugin {ctx.name!r}: dsn is required (postgresql://user@host:5432/db, or env:NAME)")
    base = Path(ctx.settings.source).parent if getattr(ctx.settings, "source", None) else None
    dsn = resolve_secret(spec, None, base)
    if not isinstance(dsn, Secret):
        raise ConfigError(f"plugin {ctx.name!r}: dsn {spec} is not set")
    return section, dsn
