"""Log records as the console's JSON: a list row, or a detail with bodies and attempts."""

from __future__ import annotations

from typing import Any

import orjson

from aigw.log_query import StoredLog

__all__ = ["MAX_BODY_CHARS", "detail", "row"]

#: Longest body the detail page shows (the rest is cut and said so).
MAX_BODY_CHARS = 256 * 1024


def row(record: StoredLog) -> dict[str, Any]:
    """What the live log table shows of one request."""
    return {
        "id": record.log_id,
        "created_at": record.created_at,
        "gateway": record.gateway,
        "type": record.request_type,
        "event_id": record.event_id,
        "provider": record.provider,
        "model": record.model,
        "status": record.status,
        "success": record.success,
        "stream": record.stream,
        "cached": record.cache_status == "HIT",
        "cancelled": record.cancelled,
        "duration_ms": record.duration_ms,
        "ttfb_ms": record.ttfb_ms,
        "tokens_in": record.tokens_in,
        "tokens_out": record.tokens_out,
        "cost": getattr(record, "cost", None),  # USD; None when unknown (never 0 for unknown)
        "error": record.error,
    }


def _body(data: bytes | None, size: int | None) -> dict[str, Any] | None:
    if data is None:
        return None if size is None else {"text": None, "size": size, "note": "collected but not kept (too large)"}
    text = data.decode("utf-8", "replace")
    pretty = None
    try:
        pretty = orjson.dumps(orjson.loads(data), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:
        pass
    shown = pretty if pretty is not None else text
    cut = len(shown) > MAX_BODY_CHARS
    return {"text": shown[:MAX_BODY_CHARS], "size": size if size is not None else len(data), "truncated": cut, "json": pretty is not None}


def detail(record: StoredLog) -> dict[str, Any]:
    """Everything the detail page shows: the row, the endpoint, metadata, every attempt and
    both bodies (text, pretty-printed when JSON, cut at MAX_BODY_CHARS)."""
    out = row(record)
    out.update(
        endpoint=record.endpoint,
        step=record.step,
        metadata=record.metadata or {},
        request_content_type=record.request_content_type,
        response_content_type=record.response_content_type,
        attempts=[
            {
                "step": a.step,
                "attempt": a.attempt,
                "provider": a.provider,
                "model": a.model,
                "status": a.status,
                "error": a.error,
                "duration_ms": a.duration_ms,
            }
            for a in record.attempts
        ],
        request_body=_body(record.request_body, record.request_body_size),
        response_body=_body(record.response_body, record.response_body_size),
    )
    return out
