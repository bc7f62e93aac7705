"""`[plugins.redis]`: where Redis is and how the plugin behaves when it cannot reach it.

    [plugins.redis]
    url = "env:AIGW_REDIS_URL"     # default redis://127.0.0.1:6379/0; env:/file: like every secret
    key_prefix = "aigw:"           # every key the plugin writes starts with this
    timeout_ms = 250               # connect and per-command timeout: a slow Redis never hangs a request
    on_error = "allow"             # rate limiter without Redis: "allow" (fail open) or "deny" (fail closed)
    max_entry_bytes = 26214400     # a larger response is not cached (25 MiB)
    backoff_max_ms = 5000          # after a failure Redis is left alone for 100 ms, doubling up to this

The URL may carry a password (`redis://:pw@host:6379/0`, `rediss://` for TLS), which is why it
is read like a secret and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from aigw.builtins.plugin_config import SectionReader
from aigw.errors import ConfigError
from aigw.secret import Secret, resolve_secret

DEFAULT_URL = "redis://127.0.0.1:6379/0"
KEYS = {"url", "key_prefix", "timeout_ms", "on_error", "max_entry_bytes", "backoff_max_ms"}


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """The validated `[plugins.redis]` table (see the module docstring)."""

    url: Secret
    key_prefix: str = "aigw:"
    timeout: float = 0.25
    on_error: str = "allow"
    max_entry_bytes: int = 25 * 1024 * 1024
    backoff_max: float = 5.0

    @classmethod
    def from_config(cls, name: str, config: Mapping[str, Any], base_dir: Path | None = None) -> RedisSettings:
        """Read and check the table; raises aigw ConfigError naming the key."""
        section = SectionReader(name, config, KEYS)
        spec = section.string("url", DEFAULT_URL) or DEFAULT_URL
        url = resolve_secret(spec, None, base_dir)
        if not isinstance(url, Secret):
            raise ConfigError(f"plugin {name!r}: url {spec} is not set")
        if not url.reveal().startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(f"plugin {name!r}: url must start with redis://, rediss:// or unix:// ({url.source})")
        return cls(
            url=url,
            key_prefix=section.string("key_prefix", "aigw:") or "",
            timeout=section.number("timeout_ms", 250, minimum=1) / 1000,
            on_error=section.string("on_error", "allow", choices=("allow", "deny")) or "allow",
            max_entry_bytes=section.number("max_entry_bytes", 25 * 1024 * 1024, minimum=0, integer=True),
            backoff_max=section.number("backoff_max_ms", 5000, minimum=1) / 1000,
        )
