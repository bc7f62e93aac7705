"""Errors raised by the upstream client: one type per way an upstream call can fail, so the
pipeline can map each to a gateway status (timeouts 504, the rest 502) and decide retries."""


class UpstreamError(Exception):
    """Base of every upstream client failure."""


class UpstreamConnectError(UpstreamError):
    """The connection (TCP, TLS handshake, certificate check) could not be established."""


class UpstreamTimeout(UpstreamError, TimeoutError):
    """Base of the three timeouts."""


class ConnectTimeout(UpstreamTimeout, UpstreamConnectError):
    """No connection (including the wait for a free pool slot) within connect_timeout."""


class FirstByteTimeout(UpstreamTimeout):
    """The response head did not arrive within first_byte_timeout after the request was sent."""


class TotalTimeout(UpstreamTimeout):
    """The whole exchange, body included, did not finish within total_timeout."""


class UpstreamProtocolError(UpstreamError):
    """The upstream sent bytes that are not valid HTTP/1.1 (head, chunked framing, encoding)."""


class UpstreamBodyTooLarge(UpstreamProtocolError):
    """The (decoded) response body passed the client's max_body_size. For a compressed body
    the limit is applied while inflating, so a small body that inflates to gigabytes costs at
    most the limit plus one inflate step of memory."""


class UpstreamConnectionClosed(UpstreamError):
    """The connection closed or was reset before the response was complete."""


class UpstreamStreamTruncated(UpstreamError):
    """A stream (SSE event, NDJSON line) was cut off by the end of the body."""


class ClientClosed(UpstreamError):
    """The client was closed; no new requests are accepted."""
