"""Google AI Studio (Gemini API): `x-goog-api-key` (or `?key=`), `usageMetadata` everywhere.

`:streamGenerateContent?alt=sse` streams data-only SSE with CRLF framing and no `[DONE]`;
every chunk repeats `usageMetadata`, the last one wins (providers.md §4).
"""

from __future__ import annotations

from typing import Mapping

from aigw.providers import HttpProvider, classify_http_error, int_or_none, loads_or_none
from aigw.builtins.providers.realtime import RealtimeEndpoint, gemini_live_usage
from aigw.types import Call, ErrorClass, Usage


class GoogleAIStudioProvider(RealtimeEndpoint, HttpProvider):
    """generativelanguage.googleapis.com; endpoints carry their version (`v1beta/models/...`).
    Realtime: Gemini Live (BidiGenerateContent); a key in `?api_key=` (Cloudflare's form) or
    `?key=` moves to `x-goog-api-key`, out of the URL."""

    name = "google-ai-studio"
    default_base_url = "https://generativelanguage.googleapis.com"
    auth_header = "x-goog-api-key"
    auth_scheme = ""
    stream_terminator = None
    usage_events = (0, 1)
    realtime_path = "ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    realtime_key_queries = ("api_key", "key")
    realtime_usage_marker = b'"usageMetadata"'
    realtime_model_query = None  # the model is in the first (setup) message

    def realtime_usage_from(self, doc: dict) -> Usage | None:
        """Gemini Live reports `usageMetadata` on server messages."""
        return gemini_live_usage(doc.get("usageMetadata"))

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """The key may come as a header; a `key=` query parameter is checked by url users."""
        return bool(headers.get("x-goog-api-key"))

    def build_request(self, call: Call, key: str | None):
        """As the base, but a client key in `?key=` counts as client auth: no injection."""
        if key is not None and any(p.startswith("key=") for p in call.query.split("&")):
            key = None
        return super().build_request(call, key)

    def url_for(self, call: Call) -> str:
        """Endpoints without a version get `v1beta/`."""
        endpoint = call.endpoint.lstrip("/")
        if not endpoint.startswith(("v1/", "v1beta/", "v1alpha/")):
            endpoint = f"v1beta/{endpoint}"
        url = f"{self.base_url}/{endpoint}"
        return f"{url}?{call.query}" if call.query else url

    def usage_from_body(self, body: bytes) -> Usage | None:
        """`usageMetadata` of a GenerateContentResponse (thoughts count as output)."""
        doc = loads_or_none(body)
        if isinstance(doc, list) and doc:  # streamGenerateContent without alt=sse: a JSON array
            doc = doc[-1]
        return gemini_usage(doc.get("usageMetadata")) if isinstance(doc, dict) else None

    def usage_from_event(self, doc: dict) -> Usage | None:
        """Every chunk carries `usageMetadata`; the caller walks from the last one."""
        return gemini_usage(doc.get("usageMetadata"))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """Common verdict, plus the retry delay Google puts in the body's RetryInfo."""
        return google_error_class(status, headers, body)

def google_error_class(status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
    """The common verdict; a 429 without a retry header takes `retryDelay` ("12s") from the
    body's `google.rpc.RetryInfo` detail (Gemini API and Vertex AI alike)."""
    verdict = classify_http_error(status, headers)
    if verdict.retry_after is None and status == 429:
        doc = loads_or_none(body)
        try:
            for detail in doc["error"]["details"]:
                delay = detail.get("retryDelay")
                if isinstance(delay, str) and delay.endswith("s"):
                    verdict.retry_after = float(delay[:-1])
        except (TypeError, KeyError, ValueError, AttributeError):
            pass
    return verdict


def gemini_usage(meta) -> Usage | None:
    """promptTokenCount in; candidatesTokenCount + thoughtsTokenCount out."""
    if not isinstance(meta, dict):
        return None
    tokens_in = int_or_none(meta.get("promptTokenCount"))
    out = [int_or_none(meta.get(k)) for k in ("candidatesTokenCount", "thoughtsTokenCount")]
    tokens_out = sum(v for v in out if v is not None) if any(v is not None for v in out) else None
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)
