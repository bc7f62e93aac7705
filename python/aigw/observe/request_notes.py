"""What the observers need to know from a request's headers, noted on its LogRecord when the
request starts: the client's own per-token prices (`cf-aig-custom-cost`), the caller's trace
(W3C `traceparent`, or Cloudflare's `cf-aig-otel-trace-id` / `cf-aig-otel-parent-span-id`),
and the authenticated principal.

A malformed `cf-aig-custom-cost` is the client's mistake (400, 2010). A malformed trace header
is ignored, as W3C Trace Context asks of a `traceparent` that cannot be parsed.
"""

from __future__ import annotations

import math
import re
from typing import Mapping

import orjson

from aigw.errors import BadRequest
from aigw.types import LogRecord

__all__ = ["note_request", "parse_custom_cost", "parse_traceparent"]

_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_SPAN_ID = re.compile(r"[0-9a-f]{16}")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
MAX_CUSTOM_COST_CHARS = 256


def note_request(record: LogRecord, options: Mapping[str, str], principal: str | None) -> None:
    """Set `record`'s principal, custom cost and trace context from the request's options
    (lowercase header names). Raises BadRequest for a malformed `cf-aig-custom-cost`."""
    record.principal = principal
    raw = options.get("cf-aig-custom-cost")
    if raw is not None:
        record.custom_cost = parse_custom_cost(raw)
    trace_id = (options.get("cf-aig-otel-trace-id") or "").strip().lower()
    if trace_id and _TRACE_ID.fullmatch(trace_id) and trace_id != _ZERO_TRACE:
        span = (options.get("cf-aig-otel-parent-span-id") or "").strip().lower()
        record.trace_id = trace_id
        record.parent_span_id = span if _SPAN_ID.fullmatch(span) and span != _ZERO_SPAN else None
        return
    parent = parse_traceparent(options.get("traceparent"))
    if parent is not None:
        record.trace_id, record.parent_span_id = parent


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """(trace id, parent span id) of a W3C `traceparent` value, or None when it is missing or
    invalid (version ff, all-zero ids, wrong lengths)."""
    if not value:
        return None
    m = _TRACEPARENT.fullmatch(value.strip().lower())
    if m is None or m.group(1) == "ff" or m.group(2) == _ZERO_TRACE or m.group(3) == _ZERO_SPAN:
        return None
    if m.group(1) == "00" and len(value.strip()) != 55:
        return None  # version 00 has exactly four fields
    return m.group(2), m.group(3)


def parse_custom_cost(raw: str) -> tuple[float, float]:
    """(USD per input token, USD per output token) of `{"per_token_in": n, "per_token_out": n}`.
    Raises BadRequest unless both are finite numbers >= 0."""
    if len(raw) > MAX_CUSTOM_COST_CHARS:
        raise BadRequest(f"cf-aig-custom-cost is longer than {MAX_CUSTOM_COST_CHARS} characters")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        rates = [value.get("per_token_in"), value.get("per_token_out")]
        if all(isinstance(r, (int, float)) and not isinstance(r, bool) and math.isfinite(r) and r >= 0 for r in rates):
            return float(rates[0]), float(rates[1])  # type: ignore[arg-type]
    raise BadRequest('cf-aig-custom-cost must be {"per_token_in": n, "per_token_out": n} (USD per token, n >= 0)')
