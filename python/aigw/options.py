"""Per-request gateway options: the `cf-aig-*` headers and a step's `config`, over gateway defaults.

Precedence (cloudflare-aigw.md §3): a step's `config` object, then the step's own headers, then
the request-level headers, then the gateway's settings. Values outside Cloudflare's limits are
refused with a message naming the header, never silently clamped.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping

from aigw.errors import BadRequest

MAX_ATTEMPTS = 5
MAX_TIMEOUT_MS = 24 * 3600 * 1000
STEP_CONFIG_KEYS = frozenset({"requestTimeout", "maxAttempts", "retryDelay", "backoff", "streamIdleTimeout"})
MAX_RETRY_DELAY_MS = 5000
MIN_CACHE_TTL, MAX_CACHE_TTL = 60, 30 * 24 * 3600
BACKOFFS = ("constant", "linear", "exponential")
# A cache key given without any TTL still caches, for this long (Cloudflare: 5 minutes).
CACHE_KEY_DEFAULT_TTL = 300


@dataclass(slots=True)
class RetryPolicy:
    """How often to try one step, how long to wait in between, and its timeouts."""

    max_attempts: int = 1
    delay_ms: int = 0
    backoff: str = "constant"
    request_timeout_ms: int = 0  # to the first byte of the answer; 0 = the gateway's default
    stream_idle_timeout_ms: int = 0  # longest silence inside a streamed answer; 0 = none

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before try number `attempt` (2 = the first retry)."""
        n = attempt - 1
        if n < 1 or self.delay_ms <= 0:
            return 0.0
        if self.backoff == "linear":
            ms = self.delay_ms * n
        elif self.backoff == "exponential":
            ms = self.delay_ms * (2 ** (n - 1))
        else:
            ms = self.delay_ms
        return ms / 1000.0


@dataclass(slots=True)
class CachePolicy:
    """Whether and how this request uses the cache."""

    ttl: int = 0  # seconds; 0 = do not store
    skip: bool = False  # do not look up
    key: str | None = None  # replaces the computed key


def _header(headers: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return value.strip()
    return None


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"{what} must be an integer from {low} to {high}, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise BadRequest(f"{what} must be an integer from {low} to {high}, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return value


def _backoff(value: Any, what: str) -> str:
    if not isinstance(value, str) or value.strip().lower() not in BACKOFFS:
        raise BadRequest(f"{what} must be one of {', '.join(BACKOFFS)}, got {value!r}")
    return value.strip().lower()


def _bool(value: str, what: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise BadRequest(f"{what} must be true or false, got {value!r}")


def retry_policy(
    defaults: RetryPolicy, headers: Mapping[str, str], config: Mapping[str, Any] | None = None
) -> RetryPolicy:
    """The retry policy for one step: `config` keys over `cf-aig-*` headers over `defaults`.

    `headers` are already merged (step headers over request headers), with lowercase names.
    Raises BadRequest naming the offending header or config key.
    """
    policy = replace(defaults)
    if (v := _header(headers, "cf-aig-max-attempts")) is not None:
        policy.max_attempts = _int(v, "cf-aig-max-attempts", 1, MAX_ATTEMPTS)
    if (v := _header(headers, "cf-aig-retry-delay")) is not None:
        policy.delay_ms = _int(v, "cf-aig-retry-delay", 0, MAX_RETRY_DELAY_MS)
    if (v := _header(headers, "cf-aig-backoff")) is not None:
        policy.backoff = _backoff(v, "cf-aig-backoff")
    if (v := _header(headers, "cf-aig-request-timeout")) is not None:
        policy.request_timeout_ms = _int(v, "cf-aig-request-timeout", 0, MAX_TIMEOUT_MS)
    if (v := _header(headers, "cf-aig-stream-idle-timeout")) is not None:
        policy.stream_idle_timeout_ms = _int(v, "cf-aig-stream-idle-timeout", 0, MAX_TIMEOUT_MS)
    if config:
        if not isinstance(config, Mapping):
            raise BadRequest("step config must be an object")
        unknown = set(config) - STEP_CONFIG_KEYS
        if unknown:
            raise BadRequest(f"unknown step config key(s): {', '.join(sorted(unknown))}")
        if "maxAttempts" in config:
            policy.max_attempts = _int(config["maxAttempts"], "config.maxAttempts", 1, MAX_ATTEMPTS)
        if "retryDelay" in config:
            policy.delay_ms = _int(config["retryDelay"], "config.retryDelay", 0, MAX_RETRY_DELAY_MS)
        if "backoff" in config:
            policy.backoff = _backoff(config["backoff"], "config.backoff")
        if "requestTimeout" in config:
            policy.request_timeout_ms = _int(config["requestTimeout"], "config.requestTimeout", 0, MAX_TIMEOUT_MS)
        if "streamIdleTimeout" in config:
            policy.stream_idle_timeout_ms = _int(config["streamIdleTimeout"], "config.streamIdleTimeout", 0, MAX_TIMEOUT_MS)
    return policy


def cache_policy(default_ttl: int, headers: Mapping[str, str]) -> CachePolicy:
    """The cache policy from `cf-aig-cache-ttl`, `cf-aig-skip-cache`, `cf-aig-cache-key`
    (and the old `cf-cache-ttl` / `cf-skip-cache` names) over the gateway's default TTL."""
    policy = CachePolicy(ttl=default_ttl)
    if (v := _header(headers, "cf-aig-cache-ttl", "cf-cache-ttl")) is not None:
        ttl = _int(v, "cf-aig-cache-ttl", 0, MAX_CACHE_TTL)
        if 0 < ttl < MIN_CACHE_TTL:
            raise BadRequest(f"cf-aig-cache-ttl must be 0 or from {MIN_CACHE_TTL} to {MAX_CACHE_TTL} seconds, got {ttl}")
        policy.ttl = ttl
    if (v := _header(headers, "cf-aig-skip-cache", "cf-skip-cache")) is not None:
        policy.skip = _bool(v, "cf-aig-skip-cache")
    if (v := _header(headers, "cf-aig-cache-key")) is not None:
        if not v:
            raise BadRequest("cf-aig-cache-key must not be empty")
        policy.key = v
        if policy.ttl == 0:
            policy.ttl = CACHE_KEY_DEFAULT_TTL
    return policy


def merged_headers(request_headers: Mapping[str, str], step_headers: Mapping[str, Any] | None) -> dict[str, str]:
    """Request-level headers overlaid by a step's headers, names lowercased.
    Raises BadRequest when a step header value is not a string (or number/bool)."""
    merged = {k.lower(): v for k, v in request_headers.items()}
    for name, value in (step_headers or {}).items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (int, float)):
            value = str(value)
        elif not isinstance(value, str):
            raise BadRequest(f"header {name!r} must be a string")
        merged[str(name).lower()] = value
    return merged
