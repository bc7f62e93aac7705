"""Amazon Bedrock runtime: `bedrock-runtime/{region}/model/{modelId}/{operation}`, SigV4, event streams.

Cloudflare's form (cloudflare-aigw.md §4): `aws-bedrock/bedrock-runtime/{region}/model/{id}/invoke`
(also `invoke-with-response-stream`, `converse`, `converse-stream`) goes to
`https://bedrock-runtime.{region}.amazonaws.com/model/{id}/invoke`; the model id stays
URL-encoded as the client sent it (`…v1%3A0`).

Auth, in this order:
* a client `Authorization: Bearer <Bedrock API key>` is forwarded as is;
* otherwise (no auth, or a client that signed its request with SigV4 for the gateway's URL) the
  request is signed anew for the upstream URL with the stored credentials, service `bedrock`,
  the region of the path. A stored key is `ACCESS_KEY_ID:SECRET[:SESSION_TOKEN]`, or JSON
  `{"access_key_id", "secret_access_key", "session_token"}`, or JSON `{"api_key"}` (a Bedrock
  API key the gateway sends as Bearer).

The Anthropic Messages "mantle" form (cloudflare-aigw.md §4):
`aws-bedrock/bedrock-mantle/{region}/anthropic/v1/messages` goes to
`https://bedrock-mantle.{region}.api.aws/anthropic/v1/messages` (option `mantle_base_url`, may
contain `{region}`), passed through untranslated (Anthropic's bodies and SSE streams). Auth there:
a client's `x-api-key` is forwarded, a client's `Authorization: Bearer <Bedrock API key>` goes
as `x-api-key` (as Cloudflare maps it); stored credentials sign for service `bedrock-mantle`, a
stored API key goes as `x-api-key`.

Answers: invoke returns the model's native JSON (Anthropic Messages for Claude); converse the
unified shape with `usage.inputTokens/outputTokens`. The two streams are binary event streams
(`application/vnd.amazon.eventstream`), relayed by the Rust `_codec.StreamRelay` (framing
"eventstream"): each message becomes the JSON a client gets in one `universal.stream` message,
the decoded model event of an invoke `chunk` (its base64 `bytes`), or `{"<eventType>": payload}`
for converse events (boto3's shape). An `exception` message is a mid-stream failure.
`BedrockStreamDecoder` is the same conversion for Python callers (`stream_decoder()`), over
`_codec.EventStreamDecoder`; the tests hold the two to the same output. Usage: converse's `metadata` event; invoke's Anthropic `message_start` /
`message_delta` usage or the final `amazon-bedrock-invocationMetrics`.
"""

from __future__ import annotations

import binascii
from binascii import a2b_base64
from typing import Any, Iterable, Mapping, Sequence

from aigw._codec import EventStreamDecoder
from aigw.builtins.providers.anthropic import anthropic_stream_usage, anthropic_usage
from aigw.builtins.providers.sigv4 import AwsCredentials, sign
from aigw.errors import BadRequest, ProviderFailed
from aigw.providers import HttpProvider, forwardable_headers, int_or_none, loads_or_none
from aigw.types import Call, UpstreamRequest, Usage
from aigw.validation import check_endpoint

DEFAULT_BASE = "https://bedrock-runtime.{region}.amazonaws.com"
DEFAULT_MANTLE_BASE = "https://bedrock-mantle.{region}.api.aws"
SERVICE = "bedrock"
MANTLE_SERVICE = "bedrock-mantle"
_HOSTS = ("bedrock-runtime", "bedrock-mantle")
# Headers a client's own signature left behind: replaced by the gateway's signature.
_SIGNATURE_HEADERS = frozenset({"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"})


class BedrockCredentials:
    """A stored Bedrock key, parsed: AWS credentials to sign with, or a Bedrock API key."""

    __slots__ = ("aws", "api_key")

    def __init__(self, stored: str) -> None:
        self.aws: AwsCredentials | None = None
        self.api_key: str | None = None
        doc = loads_or_none(stored.encode()) if stored.lstrip().startswith("{") else None
        if isinstance(doc, dict):
            if isinstance(doc.get("api_key"), str):
                self.api_key = doc["api_key"]
            elif isinstance(doc.get("access_key_id"), str) and isinstance(doc.get("secret_access_key"), str):
                token = doc.get("session_token")
                self.aws = AwsCredentials(doc["access_key_id"], doc["secret_access_key"], token if isinstance(token, str) else None)
        else:
            parts = stored.split(":")
            if len(parts) in (2, 3) and all(parts[:2]):
                self.aws = AwsCredentials(parts[0], parts[1], parts[2] if len(parts) == 3 and parts[2] else None)
        if self.aws is None and self.api_key is None:
            # The gateway's configuration is wrong, not the client: 502, and never the value.
            raise ProviderFailed("a stored aws-bedrock key is ACCESS_KEY_ID:SECRET[:SESSION_TOKEN] or JSON with access_key_id/secret_access_key or api_key")


_CHUNK_PREFIX = b'{"bytes":"'
_CHUNK_PREFIX_LEN = len(_CHUNK_PREFIX)


class BedrockStreamDecoder:
    """Bedrock's event stream → the JSON of each relayed event (see the module docstring).
    `feed(chunk)` returns the payloads one network read completed; ValueError on a broken
    stream or an `exception`/`error` message; `finish()` is True when the stream was cut."""

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = EventStreamDecoder()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The relayable JSON payloads completed by `chunk`."""
        out = []
        for headers, payload in self._decoder.feed(chunk):
            # The common message, an invoke `chunk` event as AWS serialises it
            # (`{"bytes":"<base64>","p":…}`), is decoded without parsing its JSON: base64 has no
            # `"` or `\`, so the first quote after the prefix ends the string. Anything else
            # (other key order, escapes, bad base64) takes the general path below.
            if payload.startswith(_CHUNK_PREFIX) and headers.get(":event-type") == "chunk" and headers.get(":message-type") == "event":
                end = payload.find(b'"', _CHUNK_PREFIX_LEN)
                if end > 0:
                    try:
                        out.append(a2b_base64(payload[_CHUNK_PREFIX_LEN:end], strict_mode=True))
                        continue
                    except binascii.Error:
                        pass
            out.append(relayable(headers, payload))
        return out

    def finish(self) -> bool:
        """True when a partial message was left (a truncated stream)."""
        return self._decoder.finish()


def relayable(headers: Mapping[str, Any], payload: bytes) -> bytes:
    """One event-stream message as the JSON relayed to the client; ValueError for a
    mid-stream exception or error (with AWS's exception name, never the payload)."""
    kind = headers.get(":message-type")
    if kind == "exception":
        raise ValueError(f"upstream {headers.get(':exception-type', 'exception')}")
    if kind == "error":
        raise ValueError(f"upstream error {headers.get(':error-code', '')}".rstrip())
    event_type = headers.get(":event-type")
    if event_type == "chunk":
        doc = loads_or_none(payload)
        data = doc.get("bytes") if isinstance(doc, dict) else None
        try:
            return a2b_base64(data, strict_mode=True) if isinstance(data, str) else payload
        except ValueError:  # binascii.Error, or a non-ASCII str
            raise ValueError("upstream chunk with invalid base64") from None
    if isinstance(event_type, str):
        return b'{"' + event_type.encode() + b'":' + payload + b"}"
    return payload


class AwsBedrockProvider(HttpProvider):
    """bedrock-runtime in any region. Config: `base_url` (may contain `{region}`)."""

    name = "aws-bedrock"
    default_base_url = DEFAULT_BASE
    stream_terminator = None
    usage_events = (1, 2)

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """Only a Bedrock API key (`Bearer`, or `x-api-key` for the mantle host) is client auth;
        a client's SigV4 signature was made for the gateway's URL, so the request is signed
        again with the stored credentials."""
        return headers.get("authorization", "").startswith("Bearer ") or bool(headers.get("x-api-key"))

    def split_endpoint(self, call: Call) -> tuple[str, str]:
        """(region, path under the regional host) of `bedrock-runtime/{region}/{path}` (or
        `bedrock-mantle/{region}/{path}`)."""
        return self.route(call)[1:]

    def route(self, call: Call) -> tuple[str, str, str]:
        """(host kind, region, path) of `{bedrock-runtime|bedrock-mantle}/{region}/{path}`."""
        parts = call.endpoint.lstrip("/").split("/", 2)
        if len(parts) < 3 or parts[0] not in _HOSTS or not parts[1] or not parts[1].replace("-", "").isalnum():
            raise BadRequest("aws-bedrock endpoints are bedrock-runtime/{region}/model/{modelId}/{operation} or bedrock-mantle/{region}/anthropic/v1/messages")
        return parts[0], parts[1], parts[2]

    def url_for(self, call: Call) -> str:
        """The regional host; the path and query as the client sent them."""
        return self._target(call)[2]

    def _target(self, call: Call) -> tuple[str, str, str]:
        """(host kind, region, upstream URL) of `call`, its path checked (BadRequest)."""
        host, region, path = self.route(call)
        check_endpoint(path, "request")
        base = self.base_url if host == "bedrock-runtime" else str(self.options.get("mantle_base_url") or DEFAULT_MANTLE_BASE)
        url = f"{base.replace('{region}', region)}/{path}"
        return host, region, f"{url}?{call.query}" if call.query else url

    def build_request(self, call: Call, key: str | None) -> UpstreamRequest:
        """Forward with the client's API key, or sign with the stored credentials."""
        host, region, url = self._target(call)  # route() checked the host and region segments
        mantle = host == "bedrock-mantle"
        headers = forwardable_headers(call.headers, None, bool(call.body))
        if key is None:
            bearer = next((v for n, v in headers if n == "authorization" and v.startswith("Bearer ")), None)
            if mantle and bearer is not None:  # the mantle host takes the API key as x-api-key
                headers = [(n, v) for n, v in headers if n not in ("authorization", "x-api-key")]
                headers.append(("x-api-key", bearer[7:]))
            return UpstreamRequest(call.method, url, headers, call.body)
        credentials = BedrockCredentials(key)
        headers = [(n, v) for n, v in headers if n not in _SIGNATURE_HEADERS and n != "x-api-key"]
        if credentials.api_key is not None:
            headers.append(("x-api-key", credentials.api_key) if mantle else ("authorization", f"Bearer {credentials.api_key}"))
            return UpstreamRequest(call.method, url, headers, call.body)
        assert credentials.aws is not None
        signed = [(n, v) for n, v in headers if n == "content-type" or n.startswith("x-amz-")]
        headers += sign(call.method, url, signed, call.body, credentials.aws, region, MANTLE_SERVICE if mantle else SERVICE)
        return UpstreamRequest(call.method, url, headers, call.body)

    def stream_decoder(self) -> BedrockStreamDecoder:
        """A decoder for one `application/vnd.amazon.eventstream` answer (see the class): the
        payloads a Universal WebSocket relays per event, for Python callers. (The sinks relay
        through the Rust `StreamRelay`, which converts each message the same way.)"""
        return BedrockStreamDecoder()

    def usage_from_body(self, body: bytes) -> Usage | None:
        """Converse `usage`, or the native body's (Anthropic `usage`)."""
        doc = loads_or_none(body)
        if not isinstance(doc, dict):
            return None
        return converse_usage(doc.get("usage")) or anthropic_usage(doc.get("usage"))

    def usage_from_headers(self, headers: Mapping[str, str] | Iterable[tuple[Any, Any]]) -> Usage | None:
        """`X-Amzn-Bedrock-Input-Token-Count` / `-Output-Token-Count`: what `invoke` answers
        carry for every model, including those whose native body reports no usage (Titan,
        Llama, Mistral). Header names in any case, as a mapping or (name, value) pairs (str or
        bytes). The pipeline does not call this yet: it reads usage from bodies only."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        counts: dict[str, int | None] = {}
        for name, value in pairs:
            if isinstance(name, bytes):
                name, value = name.decode("latin-1"), value.decode("latin-1")
            lname = name.lower()
            if lname in _TOKEN_COUNT_HEADERS:
                value = value.strip()
                counts[_TOKEN_COUNT_HEADERS[lname]] = int(value) if value.isascii() and value.isdigit() else None
        if counts.get("in") is None and counts.get("out") is None:
            return None
        return Usage(counts.get("in"), counts.get("out"))

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """Converse's `metadata` event; else the invocation metrics or Anthropic's events."""
        for data in reversed(last):
            doc = loads_or_none(data)
            if not isinstance(doc, dict):
                continue
            if isinstance(doc.get("metadata"), dict):
                return converse_usage(doc["metadata"].get("usage"))
            metrics = doc.get("amazon-bedrock-invocationMetrics")
            if isinstance(metrics, dict):
                return Usage(int_or_none(metrics.get("inputTokenCount")), int_or_none(metrics.get("outputTokenCount")))
        return anthropic_stream_usage((*first, *last))


_TOKEN_COUNT_HEADERS = {"x-amzn-bedrock-input-token-count": "in", "x-amzn-bedrock-output-token-count": "out"}


def converse_usage(usage: Any) -> Usage | None:
    """`inputTokens` (+ cache read/write) in, `outputTokens` out."""
    if not isinstance(usage, dict):
        return None
    parts = [int_or_none(usage.get(k)) for k in ("inputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")]
    tokens_in = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    tokens_out = int_or_none(usage.get("outputTokens"))
    if tokens_in is None and tokens_out is None:
        return None
    return Usage(tokens_in, tokens_out)

