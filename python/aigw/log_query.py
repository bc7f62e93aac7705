"""What a log store answers: the query (filters, order, keyset paging), a page, a stored log.

Shared by every log store (the built-in SQLite one, aigw-postgres) and their readers (`aigw
logs`, the logs API), so that a listing means the same whatever the engine. Paging is by
keyset: a page's `next_cursor` is its last log_id, and the next page continues strictly after
it in the chosen order; log_ids are UUIDv7, so log_id order is time order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from aigw.types import LogRecord

__all__ = ["MAX_CURSOR_CHARS", "MAX_LIMIT", "LogPage", "LogPatch", "LogQuery", "MetaValue", "StoredLog", "meta_text", "validate_patch", "validate_query"]

MAX_LIMIT = 10_000
MAX_CURSOR_CHARS = 64

MetaValue = str | int | float | bool


@dataclass(slots=True)
class StoredLog(LogRecord):
    """A LogRecord read back from the store. Its `request_body_size`/`response_body_size` are
    the original size of each collected body: None when that body was not collected; a size
    with a None body means the body was collected but not kept (not text, too large, or
    dropped under overload)."""


@dataclass(slots=True)
class LogQuery:
    """Which logs to list. Every filter is optional; set filters combine with AND.

    since/until are unix seconds (since inclusive, until exclusive) on created_at. `metadata`
    entries must all match; a value matches a stored one with the same text form ("42"
    matches 42, "true" matches true). `cached` True means cache hits, False misses.
    `success` False lists failed requests only.
    """

    gateway: str | None = None
    provider: str | None = None
    model: str | None = None
    request_type: str | None = None
    status: int | None = None
    success: bool | None = None
    event_id: str | None = None
    since: float | None = None
    until: float | None = None
    metadata: Mapping[str, MetaValue] = field(default_factory=dict)
    cached: bool | None = None
    #: Inclusive bounds on duration (milliseconds) and cost (USD; a log of unknown cost
    #: matches neither bound). `feedback` is +1 or -1.
    min_duration: float | None = None
    max_duration: float | None = None
    min_cost: float | None = None
    max_cost: float | None = None
    feedback: int | None = None
    order: Literal["desc", "asc"] = "desc"
    limit: int = 50
    cursor: str | None = None


@dataclass(slots=True)
class LogPage:
    """One page of a listing; next_cursor is None on the last page."""

    records: list[StoredLog]
    next_cursor: str | None


@dataclass(slots=True)
class LogPatch:
    """Changes to one stored log (the logs API's PATCH). A field left None is unchanged;
    `metadata` replaces the stored metadata whole (at most 5 flat entries)."""

    feedback: int | None = None  # +1 or -1
    score: int | None = None  # 0..100
    metadata: Mapping[str, MetaValue] | None = None


def validate_patch(p: LogPatch) -> None:
    """Raise ValueError for a feedback, score or metadata no store accepts."""
    if p.feedback is not None and (isinstance(p.feedback, bool) or p.feedback not in (1, -1)):
        raise ValueError(f"feedback must be 1 or -1, got {p.feedback!r}")
    if p.score is not None and (isinstance(p.score, bool) or not isinstance(p.score, int) or not 0 <= p.score <= 100):
        raise ValueError(f"score must be an integer from 0 to 100, got {p.score!r}")
    if p.metadata is not None:
        if not isinstance(p.metadata, Mapping) or len(p.metadata) > 5:
            raise ValueError("metadata must be an object of at most 5 entries")
        for key, value in p.metadata.items():
            if not isinstance(key, str) or not isinstance(value, (str, int, float, bool)):
                raise ValueError("metadata values must be strings, numbers or booleans")


def meta_text(value: MetaValue) -> str:
    """The text form a metadata value is compared by."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate_query(q: LogQuery) -> None:
    """Raise ValueError for an order, limit or cursor no store accepts."""
    if q.order not in ("desc", "asc"):
        raise ValueError(f"order must be 'desc' or 'asc', got {q.order!r}")
    if isinstance(q.limit, bool) or not isinstance(q.limit, int) or not 1 <= q.limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {q.limit!r}")
    if q.cursor is not None and (not isinstance(q.cursor, str) or len(q.cursor) > MAX_CURSOR_CHARS):
        raise ValueError("cursor must be a log id from a previous page")
    if q.feedback is not None and q.feedback not in (1, -1):
        raise ValueError(f"feedback must be 1 or -1, got {q.feedback!r}")
    for name in ("min_duration", "max_duration", "min_cost", "max_cost"):
        value = getattr(q, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value != value):
            raise ValueError(f"{name} must be a number, got {value!r}")
