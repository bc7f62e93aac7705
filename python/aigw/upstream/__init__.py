"""The upstream side: a lean HTTP/1.1 keep-alive client for AI providers and stream adapters."""

from .client import UpstreamClient
from .errors import (
    ClientClosed,
    ConnectTimeout,
    FirstByteTimeout,
    TotalTimeout,
    UpstreamBodyTooLarge,
    UpstreamConnectError,
    UpstreamConnectionClosed,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamStreamTruncated,
    UpstreamTimeout,
)
from .response import UpstreamResponse
from .streams import ndjson_lines, sse_events

__all__ = [
    "ClientClosed",
    "ConnectTimeout",
    "FirstByteTimeout",
    "TotalTimeout",
    "UpstreamBodyTooLarge",
    "UpstreamClient",
    "UpstreamConnectError",
    "UpstreamConnectionClosed",
    "UpstreamError",
    "UpstreamProtocolError",
    "UpstreamResponse",
    "UpstreamStreamTruncated",
    "UpstreamTimeout",
    "ndjson_lines",
    "sse_events",
]
