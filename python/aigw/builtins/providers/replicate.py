"""Replicate: predictions (create, get, cancel), sync mode, and usage from `metrics`.

Cloudflare's form (cloudflare-aigw.md §4): `replicate/predictions` (and
`replicate/models/{owner}/{name}/predictions`, `replicate/predictions/{id}`,
`replicate/predictions/{id}/cancel`) goes to `https://api.replicate.com/v1/…`; `v1/…` works too.
Auth `Authorization: Bearer r8_…` (legacy `Token r8_…` forwarded as sent). A create answers 201
with the prediction (`status` starting, `urls.get/cancel/stream`); `Prefer: wait` (forwarded)
makes it answer when done. Clients poll `GET predictions/{id}` until `succeeded | failed |
canceled`, or read the `urls.stream` SSE (`event: output` with raw-text data, `event: done`)
from Replicate's stream host directly (providers.md §10). Usage: the finished prediction's
`metrics.input_token_count` / `output_token_count` (time-billed models report `predict_time` only).
Errors are RFC 7807 problem documents; 429 carries `retry-after`.
"""

from __future__ import annotations

from aigw.providers import HttpProvider, int_or_none, loads_or_none
from aigw.types import Usage


class ReplicateProvider(HttpProvider):
    """api.replicate.com/v1."""

    name = "replicate"
    default_base_url = "https://api.replicate.com/v1"
    stream_terminator = None
    usage_events = (0, 1)

    def usage_from_body(self, body: bytes) -> Usage | None:
        """A prediction's `metrics` token counts."""
        doc = loads_or_none(body)
        return self.usage_from_event(doc) if isinstance(doc, dict) else None

    def usage_from_event(self, doc: dict) -> Usage | None:
        """`metrics.input_token_count` / `output_token_count`, when reported."""
        metrics = doc.get("metrics")
        if not isinstance(metrics, dict):
            return None
        tokens_in = int_or_none(metrics.get("input_token_count"))
        tokens_out = int_or_none(metrics.get("output_token_count"))
        if tokens_in is None and tokens_out is None:
            return None
        return Usage(tokens_in, tokens_out)
