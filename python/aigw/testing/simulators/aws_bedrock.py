"""Amazon Bedrock runtime as ``bedrock-runtime.{region}.amazonaws.com`` serves it (providers.md §5).

* ``POST /model/{modelId}/invoke`` (Anthropic Messages body with ``anthropic_version``; answer the
  Anthropic message plus ``X-Amzn-Bedrock-Input/Output-Token-Count`` headers),
  ``…/invoke-with-response-stream`` (event stream of ``chunk`` events whose payload is
  ``{"bytes": base64(Anthropic event), "p": padding}``; the last event carries
  ``amazon-bedrock-invocationMetrics``), ``…/converse`` and ``…/converse-stream``
  (``messageStart``, ``contentBlockDelta``*, ``contentBlockStop``, ``messageStop``,
  ``metadata`` with usage), each streamed message framed as ``application/vnd.amazon.eventstream``
  with CRCs; the model id arrives URL-encoded (``…v1%3A0``);
* auth: SigV4 (``AWS4-HMAC-SHA256``, service ``bedrock``, any region), recomputed with the
  simulator's secret for the headers the client signed (so a request re-signed for another host,
  body or path fails as AWS fails it), ``X-Amz-Security-Token`` when the access key is the
  temporary one; or ``Authorization: Bearer <Bedrock API key>``;
* errors: body ``{"message": …}`` and ``x-amzn-ErrorType: <Name>:http://internal.amazon.com/…``
  with §5.4's statuses; auth failures are 403 (``MissingAuthenticationTokenException``,
  ``UnrecognizedClientException``, ``InvalidSignatureException``);
* the Anthropic "mantle" host (``bedrock-mantle.{region}.api.aws``, served at the same root):
  ``POST /anthropic/v1/messages``, Anthropic's Messages API (bodies and SSE streams as the
  Anthropic simulator sends them); auth ``x-api-key: <Bedrock API key>`` or SigV4 for service
  ``bedrock-mantle``;
* mid-stream error: an ``exception`` message (``:exception-type: throttlingException``);
  malformed frame: a message with a wrong CRC.

``key`` (what a gateway stores) is ``ACCESS_KEY_ID:SECRET``; ``provider_options()`` points the
gateway's ``mantle_base_url`` here; ``api_key`` is the Bedrock API key;
``session_credentials`` is an (access key, secret, token) triple that needs its token.
"""

from __future__ import annotations

import base64
import calendar
import re
import time
import struct
import zlib
from typing import Any

from aiohttp import web

from aigw.builtins.providers.sigv4 import AwsCredentials, sign

from . import _text
from ._core import Call, Frame, Simulator, dumps, endpoint
from .anthropic import AnthropicSimulator

EVENTSTREAM = "application/vnd.amazon.eventstream"
ACCESS_KEY_ID = "AKIDSIMBEDROCK"
SECRET = "sim/bedrock+secret"
SESSION = ("ASIASIMBEDROCK", "sim/session+secret", "FwoGZXIvYXdzEXAMPLESESSION")
API_KEY = "ABSKsimbedrockapikey"
_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_BODY = web.RequestKey("aigw_sim_body", bytes)  # the request's body, for the signature check
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})")


def es_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message with string headers (providers.md §5.3's encoder)."""
    block = b"".join(struct.pack("!B", len(k)) + k.encode() + b"\x07" + struct.pack("!H", len(v.encode())) + v.encode() for k, v in headers.items())
    prelude = struct.pack("!II", 16 + len(block) + len(payload), len(block))
    msg = prelude + struct.pack("!I", zlib.crc32(prelude)) + block + payload
    return msg + struct.pack("!I", zlib.crc32(msg))


def event(kind: str, body: dict[str, Any]) -> bytes:
    """A Bedrock event message: JSON payload with the random ``p`` padding field."""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return es_message(headers, dumps({**body, "p": "abcdefghijklmnop"[: 1 + len(kind) % 16]}).encode())


class AwsBedrockSimulator(Simulator):
    """bedrock-runtime: invoke, converse and their streams, SigV4 checked."""

    slug = "aws-bedrock"
    default_key = f"{ACCESS_KEY_ID}:{SECRET}"
    base_path = ""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.api_key = API_KEY

    def provider_options(self) -> dict[str, Any]:
        """``mantle_base_url``: the mantle host is this simulator too."""
        return {"mantle_base_url": self.url}

    def routes(self) -> list[web.RouteDef]:
        """The four model operations, and the mantle host's Messages API."""
        return [
            web.post("/model/{model_id}/invoke", self.invoke),
            web.post("/model/{model_id}/invoke-with-response-stream", self.invoke_stream),
            web.post("/model/{model_id}/converse", self.converse),
            web.post("/model/{model_id}/converse-stream", self.converse_stream),
            web.post("/anthropic/v1/messages", self.mantle_messages),
        ]

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The (decoded) model id of the path (mantle: the body's ``model``)."""
        return request.match_info.get("model_id") or str(body.get("model") or "")

    # ---- auth ----

    def _record(self, request: web.Request, body: bytes) -> None:
        """Record, and keep the body on the request: the signature covers it."""
        request[_BODY] = body
        super()._record(request, body)

    def secret_for(self, access_key: str) -> tuple[str, str | None] | None:
        """(secret, required session token) of a known access key."""
        key_id, _, secret = self.key.partition(":")
        if access_key == key_id:
            return secret, None
        if access_key == SESSION[0]:
            return SESSION[1], SESSION[2]
        return None

    def check_auth(self, request: web.Request) -> web.Response | None:
        """A Bearer API key, or a SigV4 signature recomputed with the known secret."""
        auth = request.headers.get("Authorization", "")
        mantle = request.path.startswith("/anthropic/")
        if mantle and "x-api-key" in request.headers and not auth:
            return None if request.headers["x-api-key"] == self.api_key else self.aws_error(403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix")
        if auth.startswith("Bearer "):
            return None if auth[7:].strip() == self.api_key else self.aws_error(403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix")
        match = _AUTH.fullmatch(auth)
        if match is None:
            return self.aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        access_key, day, region, service, signed, signature = match.groups()
        known = self.secret_for(access_key)
        if known is None or (known[1] is not None and request.headers.get("X-Amz-Security-Token") != known[1]):
            return self.aws_error(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
        expected = "bedrock-mantle" if mantle else "bedrock"
        if service != expected or not request.headers.get("X-Amz-Date", "").startswith(day):
            return self.aws_error(403, "InvalidSignatureException", f"Credential should be scoped to correct service: '{expected}'.")
        if self.expected_signature(request, known[0], region, signed.split(";"), expected) != signature:
            return self.aws_error(403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        return None

    def expected_signature(self, request: web.Request, secret: str, region: str, names: list[str], service: str = "bedrock") -> str:
        """SigV4 over what arrived: the raw path, the query, the named headers, the body."""
        headers = [(n, v) for n in names if n != "host" for v in request.headers.getall(n, [])]
        url = f"http://{request.headers.get('Host', '')}{request.raw_path}"
        when = calendar.timegm(time.strptime(request.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ"))
        token = request.headers.get("X-Amz-Security-Token")
        body = request.get(_BODY, b"")
        added = dict(sign(request.method, url, headers, body, AwsCredentials("k", secret, token), region, service, now=when))
        return added["authorization"].rsplit("Signature=", 1)[1]

    # ---- errors ----

    def aws_error(self, status: int, name: str, message: str) -> web.Response:
        """``{"message"}`` with the exception name in ``x-amzn-ErrorType``."""
        headers = {"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/", "x-amzn-RequestId": "sim-request"}
        if status == 429:
            headers.update(self.rate_limit_headers())
        return web.Response(status=status, text=dumps({"message": message}), content_type="application/json", headers=headers)

    def error_response(self, status: int, message: str | None = None) -> web.Response:
        """Every error in Bedrock's shape (§5.4's status → exception name)."""
        return self.aws_error(status, _ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException"), message or "Simulated error")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"message"}`` (``error_response`` adds the headers)."""
        return {"message": message}, {}

    def rate_limit_headers(self) -> dict[str, str]:
        """Bedrock sends no retry-after; botocore backs off on its own."""
        return {}

    def stream_error_frame(self, call: Call) -> bytes:
        """An ``exception`` message: ``throttlingException``."""
        headers = {":exception-type": "throttlingException", ":content-type": "application/json", ":message-type": "exception"}
        return es_message(headers, b'{"message":"Simulated mid-stream throttling"}')

    def malformed_frame(self, call: Call) -> bytes:
        """A message whose CRC is wrong."""
        good = event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})
        return good[:-1] + bytes([good[-1] ^ 0xFF])

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """``x-amzn-RequestId``."""
        return {"x-amzn-RequestId": f"req-{call.id if call else 'error'}"}

    # ---- operations ----

    def _prompt(self, call: Call, converse: bool) -> tuple[str, int, int | None]:
        messages = [m for m in call.body.get("messages") or [] if isinstance(m, dict)]
        texts = [_text.text_of(m.get("content")) for m in messages]
        system = call.body.get("system")
        tokens = sum(map(_text.count_tokens, texts)) + _text.count_tokens(_text.text_of(system))
        last = next((_text.text_of(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        limit = (call.body.get("inferenceConfig") or {}).get("maxTokens") if converse else call.body.get("max_tokens")
        return last, tokens, limit if isinstance(limit, int) else None

    def _anthropic(self, call: Call) -> tuple[dict[str, Any], str, dict[str, int]]:
        last, tokens, limit = self._prompt(call, converse=False)
        reply, cut = _text.truncate_words(self.reply_text(last), limit)
        usage = {"input_tokens": tokens, "output_tokens": _text.count_tokens(reply)}
        message = {
            "id": f"msg_bdrk_{call.id}",
            "type": "message",
            "role": "assistant",
            "model": call.model.split(".", 1)[-1],
            "content": [{"type": "text", "text": reply}],
            "stop_reason": "max_tokens" if cut else "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        return message, reply, usage

    @endpoint
    async def invoke(self, call: Call) -> web.StreamResponse:
        """InvokeModel with an Anthropic body."""
        if "anthropic_version" not in call.body:
            return self.error_response(400, "Malformed input request: #: required key [anthropic_version] not found, please reformat your input and try again.")
        message, _, usage = self._anthropic(call)
        resp = await self.send_json(call, message)
        if not resp.prepared:  # (a wire fault already sent its own head)
            resp.headers["X-Amzn-Bedrock-Input-Token-Count"] = str(usage["input_tokens"])
            resp.headers["X-Amzn-Bedrock-Output-Token-Count"] = str(usage["output_tokens"])
            resp.headers["X-Amzn-Bedrock-Invocation-Latency"] = "42"
        return resp

    @endpoint
    async def invoke_stream(self, call: Call) -> web.StreamResponse:
        """InvokeModelWithResponseStream: Anthropic events inside base64 ``chunk`` payloads."""
        if "anthropic_version" not in call.body:
            return self.error_response(400, "Malformed input request: #: required key [anthropic_version] not found")
        message, reply, usage = self._anthropic(call)

        def chunk(doc: dict[str, Any]) -> bytes:
            return event("chunk", {"bytes": base64.b64encode(dumps(doc).encode()).decode()})

        start = {**message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}
        frames: list[Frame] = [
            (chunk({"type": "message_start", "message": start}), False),
            (chunk({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}), False),
        ]
        frames += [(chunk({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}), True) for p in self.pieces(reply)]
        frames.append((chunk({"type": "content_block_stop", "index": 0}), False))
        frames.append((chunk({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}, "usage": {"output_tokens": usage["output_tokens"]}}), False))
        metrics = {"inputTokenCount": usage["input_tokens"], "outputTokenCount": usage["output_tokens"], "invocationLatency": 42, "firstByteLatency": 10}
        frames.append((chunk({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}), False))
        return await self.send_stream(call, frames, content_type=EVENTSTREAM)

    def _converse(self, call: Call) -> tuple[str, str, dict[str, int]]:
        last, tokens, limit = self._prompt(call, converse=True)
        reply, cut = _text.truncate_words(self.reply_text(last), limit)
        out = _text.count_tokens(reply)
        return reply, "max_tokens" if cut else "end_turn", {"inputTokens": tokens, "outputTokens": out, "totalTokens": tokens + out}

    @endpoint
    async def converse(self, call: Call) -> web.StreamResponse:
        """Converse."""
        reply, stop, usage = self._converse(call)
        body = {"output": {"message": {"role": "assistant", "content": [{"text": reply}]}}, "stopReason": stop, "usage": usage, "metrics": {"latencyMs": 42}}
        return await self.send_json(call, body)

    @endpoint
    async def converse_stream(self, call: Call) -> web.StreamResponse:
        """ConverseStream: typed events, usage in ``metadata``."""
        reply, stop, usage = self._converse(call)
        frames: list[Frame] = [(event("messageStart", {"role": "assistant"}), False)]
        frames += [(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": p}}), True) for p in self.pieces(reply)]
        frames.append((event("contentBlockStop", {"contentBlockIndex": 0}), False))
        frames.append((event("messageStop", {"stopReason": stop}), False))
        frames.append((event("metadata", {"usage": usage, "metrics": {"latencyMs": 42}}), False))
        return await self.send_stream(call, frames, content_type=EVENTSTREAM)

    @endpoint
    async def mantle_messages(self, call: Call) -> web.StreamResponse:
        """The mantle host's Anthropic Messages API (model in the body)."""
        return await AnthropicSimulator.messages.__wrapped__(self, call)  # type: ignore[attr-defined]
