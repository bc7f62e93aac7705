"""aigw: a self-hosted AI gateway with a multiplexed WebSocket API.

The public surface lives here; everything else is an implementation detail. Importing aigw
stays cheap: no plugin is imported, and pluggy and the installed version are resolved on first
use (`hookimpl`, `__version__`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aigw.errors import (
    AigwError,
    BadRequest,
    ByokAliasNotFound,
    ConfigError,
    GatewayNotFound,
    InvalidProvider,
    PluginError,
    ProviderFailed,
    RateLimited,
    RequestTimeout,
    Unauthorized,
)
from aigw.interfaces import AuthBackend, Cache, Lifecycle, Logger, LogStore, Provider, RateLimiter
from aigw.types import (
    CachedResponse,
    Call,
    ErrorClass,
    Framing,
    HttpRequest,
    HttpResponse,
    LogRecord,
    PluginContext,
    Principal,
    RateDecision,
    UpstreamRequest,
    Usage,
)

if TYPE_CHECKING:
    import pluggy

    from aigw.config import load_settings
    from aigw.gateway import Gateway

    hookimpl: pluggy.HookimplMarker
    __version__: str

__all__ = [
    "__version__",
    "Gateway",
    "load_settings",
    "hookimpl",
    "Provider",
    "AuthBackend",
    "Logger",
    "Cache",
    "RateLimiter",
    "LogStore",
    "Lifecycle",
    "Call",
    "UpstreamRequest",
    "Usage",
    "ErrorClass",
    "Framing",
    "Principal",
    "CachedResponse",
    "RateDecision",
    "LogRecord",
    "PluginContext",
    "HttpRequest",
    "HttpResponse",
    "AigwError",
    "ConfigError",
    "PluginError",
    "GatewayNotFound",
    "RateLimited",
    "ProviderFailed",
    "RequestTimeout",
    "InvalidProvider",
    "Unauthorized",
    "BadRequest",
    "ByokAliasNotFound",
]


def __getattr__(name: str) -> Any:
    """Resolve the costly attributes on first use (PEP 562), then cache them."""
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("aigw")
        except PackageNotFoundError:  # running from a source tree without an install
            value = "0.0.0"
    elif name == "hookimpl":
        import pluggy

        value = pluggy.HookimplMarker("aigw")
    elif name == "Gateway":
        from aigw.gateway import Gateway as value
    elif name == "load_settings":
        from aigw.config import load_settings as value
    else:
        raise AttributeError(f"module 'aigw' has no attribute {name!r}")
    globals()[name] = value
    return value
