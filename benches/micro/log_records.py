"""The typical logged request the log benchmarks share: a non-streamed chat request with JSON
bodies of ~80 and ~200 bytes, one attempt, no metadata, no error."""

from __future__ import annotations

import time

from aigw.logrecords import new_log_id
from aigw.types import Attempt, LogRecord

REQUEST = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}'
RESPONSE = (
    b'{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":'
    b'"assistant","content":"hi there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,'
    b'"completion_tokens":20}}'
)


def typical_record(i: int) -> LogRecord:
    """A fresh record (its own log id and event id `e{i}`) of the typical request."""
    return LogRecord(
        log_id=new_log_id(), created_at=time.time(), gateway="bench", request_type="websocket",
        event_id=f"e{i}", provider="openai", model="gpt-4o-mini", endpoint="chat/completions",
        status=200, success=True, step=0, duration_ms=1.2, ttfb_ms=0.9, tokens_in=10, tokens_out=20,
        request_content_type="application/json", response_content_type="application/json",
        request_body=REQUEST, response_body=RESPONSE, cost=0.00001,
        attempts=[Attempt(step=0, attempt=1, provider="openai", model="gpt-4o-mini", status=200, duration_ms=1.1)],
    )  # fmt: skip
