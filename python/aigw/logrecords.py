"""What the pipeline needs to fill a LogRecord: log ids, custom metadata, collection flags.

Pure functions on values: no I/O, no event loop. The rules follow Cloudflare AI Gateway
(reference: cloudflare-aigw.md §5.1 and §6 "Logging" / "Custom metadata").
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, Iterable, Literal, Mapping, overload

import orjson

from aigw import _codec
from aigw.types import Attempt, LogRecord

__all__ = [
    "MAX_METADATA_ENTRIES",
    "MAX_METADATA_HEADER_BYTES",
    "SECRET_HEADERS",
    "attempts_from_list",
    "attempts_to_list",
    "collect_flags",
    "is_secret_header",
    "new_log_id",
    "parse_metadata_header",
    "record_to_dict",
    "scrub_headers",
    "uuid7_time",
]

# ---- log ids -------------------------------------------------------------------------------

# The request's UUIDv7 (RFC 9562): 48-bit unix-ms timestamp, version 7, variant 10, lowercase;
# ids from one process sort strictly in creation order, also within one millisecond (method 2
# of §6.2: a new millisecond starts from 73 random bits, each further id adds one). Built in
# Rust (rust/src/logid.rs): one call per request instead of ~1-2 µs of Python.
new_log_id = _codec.new_log_id



def uuid7_time(log_id: str) -> float:
    """The unix time in seconds (millisecond precision) embedded in a UUIDv7 string.

    Raises ValueError when `log_id` is not a version-7 UUID.
    """
    h = log_id.replace("-", "")
    if len(h) != 32 or h[12] != "7":
        raise ValueError(f"not a UUIDv7: {log_id!r}")
    return int(h[:12], 16) / 1000.0


# ---- cf-aig-metadata -------------------------------------------------------------------------

MAX_METADATA_ENTRIES = 5  # Cloudflare: 5 entries per request, extras dropped
MAX_METADATA_HEADER_BYTES = 8192  # our own limit: longer headers are ignored whole
_RESERVED_PREFIX = "cf."


def parse_metadata_header(value: str | bytes | None) -> dict[str, str | int | float | bool] | None:
    """Parse `cf-aig-metadata` into a flat dict, or None when there is nothing to keep.

    Rules (Cloudflare's): the header is a JSON object; values must be strings, numbers or
    booleans; a nested object or array anywhere makes the whole header ignored (None), as does
    invalid JSON, a non-object, or a header over MAX_METADATA_HEADER_BYTES. Keys starting
    "cf." are reserved and dropped. Of the remaining entries the first five, in the order
    sent, are kept; the rest are dropped. A `null` value drops its entry. Never raises.
    """
    if not value or len(value) > MAX_METADATA_HEADER_BYTES:
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(parsed, dict):
        return None
    if any(isinstance(v, (dict, list)) for v in parsed.values()):
        return None
    kept: dict[str, str | int | float | bool] = {}
    for key, v in parsed.items():
        if v is None or key.startswith(_RESERVED_PREFIX):
            continue
        kept[key] = v
        if len(kept) == MAX_METADATA_ENTRIES:
            break
    return kept or None


# ---- cf-aig-collect-log / cf-aig-collect-log-payload ---------------------------------------


def _header_bool(headers: Mapping[str, str], name: str) -> bool | None:
    raw = headers.get(name)
    if raw is None:
        return None
    word = raw.strip().lower()
    if word == "true":
        return True
    if word == "false":
        return False
    return None  # anything else is ignored, like a missing header


def collect_flags(gateway_collect_logs: bool, headers: Mapping[str, str]) -> tuple[bool, bool]:
    """(collect, collect_payload) for one request. `headers` have lowercase names.

    `cf-aig-collect-log: true|false` overrides the gateway's `collect_logs` default for this
    request. `cf-aig-collect-log-payload: false` keeps the log but without request/response
    bodies (metadata only); it is ignored when the log is not collected, so collect_payload is
    never True when collect is False. Values other than true/false (any case) are ignored.
    """
    collect = _header_bool(headers, "cf-aig-collect-log")
    if collect is None:
        collect = gateway_collect_logs
    if not collect:
        return False, False
    payload = _header_bool(headers, "cf-aig-collect-log-payload")
    return True, payload is not False


# ---- header scrubbing ----------------------------------------------------------------------

# Credentials a client may send for the gateway or for a provider. Matched case-insensitively.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cf-aig-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "xi-api-key",
        "ocp-apim-subscription-key",
        "x-amz-security-token",
        "cookie",
        "set-cookie",
        "sec-websocket-protocol",  # carries "cf-aig-authorization.<token>" from browsers
    }
)
# Anything named like a credential goes too, so a new provider's header is not leaked by default.
_SECRET_SUFFIXES = ("-api-key", "_api_key", "-token", "-secret", "authorization")

def is_secret_header(name: str) -> bool:
    """Whether a header with this name may carry a credential and must never be stored."""
    lowered = name.lower()
    return lowered in SECRET_HEADERS or lowered.endswith(_SECRET_SUFFIXES)


@overload
def scrub_headers(headers: Mapping[str, str]) -> dict[str, str]: ...
@overload
def scrub_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]: ...
def scrub_headers(headers):  # type: ignore[no-untyped-def]
    """A copy of `headers` without credential headers (see is_secret_header), safe to store.

    A mapping gives a dict, an iterable of (name, value) pairs gives a list of pairs; names
    and order are kept as they were. The input is not modified.
    """
    if isinstance(headers, Mapping):
        return {k: v for k, v in headers.items() if not is_secret_header(k)}
    return [(k, v) for k, v in headers if not is_secret_header(k)]


# ---- serialization -------------------------------------------------------------------------

_BODY_FIELDS = ("request_body", "response_body")
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(Attempt))
_PLAIN_FIELDS = tuple(
    f.name for f in dataclasses.fields(LogRecord) if f.name not in _BODY_FIELDS and f.name != "attempts"
)


def attempts_to_list(attempts: Iterable[Attempt]) -> list[dict[str, Any]]:
    """The attempts as JSON-ready dicts (field names as in aigw.types.Attempt)."""
    return [{name: getattr(a, name) for name in _ATTEMPT_FIELDS} for a in attempts]


def attempts_from_list(items: Any) -> list[Attempt]:
    """The inverse of attempts_to_list, skipping keys this aigw does not know (newer writers)."""
    if not isinstance(items, list):
        return []
    return [Attempt(**{k: v for k, v in item.items() if k in _ATTEMPT_FIELDS}) for item in items if isinstance(item, dict)]

BodyMode = Literal["omit", "base64"]


def record_to_dict(
    record: LogRecord,
    *,
    bodies: BodyMode = "omit",
    request_body_size: int | None = None,
    response_body_size: int | None = None,
) -> dict[str, Any]:
    """A JSON-ready dict of `record`: every LogRecord field except the raw bodies.

    `request_body_size`/`response_body_size` are the collected bodies' sizes (taken from the
    record's own `*_size` attributes or its bodies when not given; None: not collected).
    With bodies="base64", `request_body_base64`/`response_body_base64` hold the stored bodies
    (None when not kept); with "omit" those keys are absent.
    """
    d: dict[str, Any] = {name: getattr(record, name) for name in _PLAIN_FIELDS}
    d["attempts"] = attempts_to_list(record.attempts)
    for name, given in (("request_body", request_body_size), ("response_body", response_body_size)):
        body = getattr(record, name)
        size = given if given is not None else getattr(record, f"{name}_size", None)
        d[f"{name}_size"] = size if size is not None else (None if body is None else len(body))
        if bodies == "base64":
            d[f"{name}_base64"] = None if body is None else base64.b64encode(body).decode("ascii")
    return d
