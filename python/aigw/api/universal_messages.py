"""The Universal WebSocket API's messages, parsed and built (websocket-api.md).

Client → server: `universal.create` (one step, or an array of fallback steps) and
`universal.cancel`. Server → client: `universal.created`, `universal.stream`, `universal.done`,
and `universal.error` for messages that cannot be tied to a request. Sans-I/O: bytes in, bytes out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from aigw import _codec
from aigw.errors import BadRequest
from aigw.pipeline import StepRequest, make_step_request

CREATE, CANCEL = "universal.create", "universal.cancel"
_MODEL_IN_PATH = re.compile(r"models/([^/:?]+)")
MAX_EVENT_ID = 256
# How deeply a message may nest objects and arrays (the message itself is level 1). Deeper
# documents are refused where they are parsed, so nothing downstream (re-serialising `query`,
# provider adapters, loggers) ever meets one.
MAX_DEPTH = 128


#: A `query` object as `_codec.cut_queries` cuts it from a message: (its bytes as the client
#: sent them, `"stream": true` in it, its `"model"` string or None).
RawQuery = tuple[bytes, bool, "str | None"]


@dataclass(slots=True)
class Step:
    """One provider call of a request, as the client wrote it: its `query` (the provider's
    body) either as the bytes the client sent (`raw`, the usual case: forwarded verbatim,
    never decoded) or JSON-decoded (`query`)."""

    provider: str
    endpoint: str
    headers: dict[str, Any]
    query: dict[str, Any] | None  # the provider-native body, JSON-decoded (when not raw)
    config: dict[str, Any] | None = None
    raw: RawQuery | None = None

    @property
    def body(self) -> bytes:
        """The body to send upstream: the query's bytes as sent, or the decoded `query`
        re-serialized."""
        if self.raw is not None:
            return self.raw[0]
        return b"" if self.query is None else orjson.dumps(self.query)

    @property
    def stream(self) -> bool:
        """Whether the step asked for a streamed answer (`"stream": true`, or Gemini's
        `streamGenerateContent` endpoint)."""
        asked = self.raw[1] if self.raw is not None else isinstance(self.query, dict) and self.query.get("stream") is True
        return asked or asks_to_stream(self.endpoint)

    @property
    def model(self) -> str | None:
        """The model named in the body, else in the endpoint (Gemini's `models/{m}:...`,
        Workers AI's `@cf/...` model ids), when there is one."""
        if self.raw is not None:
            model: Any = self.raw[2]
        else:
            model = self.query.get("model") if isinstance(self.query, dict) else None
        if isinstance(model, str):
            return model
        return model_in_endpoint(self.endpoint)

    def step_request(self) -> StepRequest:
        """This step as the pipeline takes it. The same as reading `body`, `stream` and
        `model`, in one call for the usual step whose query was cut out as bytes."""
        if self.raw is None:
            return make_step_request(self.provider, self.endpoint, self.headers, self.body, self.stream, self.model, self.config)
        return cut_step_request(self.provider, self.endpoint, self.headers, self.raw, self.config)


def cut_step_request(provider: str, endpoint: str, headers: dict[str, Any], cut: RawQuery, config: dict[str, Any] | None = None) -> StepRequest:
    """A step whose query was cut out as bytes, as the pipeline takes it: the bytes as the body,
    a stream when the query or the endpoint asks for one, the query's model else the endpoint's."""
    body, asked, model = cut
    return make_step_request(provider, endpoint, headers, body, asked or asks_to_stream(endpoint), model if isinstance(model, str) else model_in_endpoint(endpoint), config)


def model_in_endpoint(endpoint: str) -> str | None:
    """The model an endpoint names (Gemini's `models/{m}:...`, Workers AI's `@cf/...` model
    ids), or None."""
    match = _MODEL_IN_PATH.search(endpoint)
    if match:
        return match.group(1)
    return endpoint if endpoint.startswith(("@cf/", "@hf/")) else None


def asks_to_stream(endpoint: str) -> bool:
    """Whether an endpoint itself asks for a stream (Gemini's `:streamGenerateContent`)."""
    return ":streamGenerateContent" in endpoint


@dataclass(slots=True)
class Create:
    """`universal.create`: run `steps` in order until one answers."""

    event_id: str | None
    steps: list[Step]


@dataclass(slots=True)
class Cancel:
    """`universal.cancel`: abort the request with this eventId."""

    event_id: str


class MessageError(BadRequest):
    """A client message that cannot be run.

    `event_id` is set when it could be read; `tied` means the error is answered as that
    request's result (a `universal.created`, as Cloudflare answers), otherwise with a
    `universal.error`.
    """

    def __init__(self, message: str, event_id: str | None = None, *, tied: bool = False) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.tied = tied


def _event_id(value: Any) -> str | None:
    # Strings only (Cloudflare's contract): a JSON number comes back changed once decoded
    # (1.2345678901234568e+29 for a 30-digit integer), so a client could not match its answer.
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_EVENT_ID:
        raise MessageError(f"eventId must be a non-empty string of at most {MAX_EVENT_ID} characters")
    return value


def nests_deeper_than(limit: int, payload: bytes, doc: Any) -> bool:
    """Whether `doc` (decoded from `payload`) has more than `limit` levels of objects and
    arrays. A loop with its own stack, never recursion: the depth is the client's to choose."""
    # A document with at most `limit` brackets cannot nest deeper: two C-speed counts settle
    # every small message.
    if payload.count(b"{") + payload.count(b"[") <= limit:
        return False
    stack = [(doc, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        node, depth = pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                push((child, depth + 1))
    return False


def _step(raw: Any, where: str, cut: RawQuery | None = None) -> Step:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} must be an object")
    provider, endpoint = raw.get("provider"), raw.get("endpoint")
    if not isinstance(provider, str) or not provider:
        raise BadRequest(f"{where}.provider is required (a provider slug such as \"openai\")")
    if not isinstance(endpoint, str):
        raise BadRequest(f"{where}.endpoint is required (the path under the provider, e.g. \"chat/completions\")")
    headers = raw.get("headers")
    if headers is None:
        headers = {}
    elif not isinstance(headers, dict):
        raise BadRequest(f"{where}.headers must be an object")
    authorization = raw.get("authorization")
    if authorization is not None and "authorization" not in {k.lower() for k in headers}:
        # The older Universal Endpoint form: a step-level `authorization` string.
        if not isinstance(authorization, str):
            raise BadRequest(f"{where}.authorization must be a string")
        headers = {**headers, "Authorization": authorization}
    query = raw.get("query")
    if query is not None and not isinstance(query, dict):
        raise BadRequest(f"{where}.query must be an object (the provider's request body)")
    config = raw.get("config")
    if config is not None and not isinstance(config, dict):
        raise BadRequest(f"{where}.config must be an object")
    return Step(provider, endpoint.lstrip("/"), headers, query, config, cut)


def parse_steps(request: Any, cuts: list[RawQuery | None] | None = None) -> list[Step]:
    """Steps from a Universal request: one step object or a non-empty array of them, with
    `cuts[i]` the query `_codec.cut_queries` cut from step i (its `query` is then null here).
    Raises BadRequest naming the offending field."""
    if isinstance(request, list):
        if not request:
            raise BadRequest("request must not be an empty array")
        if cuts is None:
            return [_step(raw, f"request[{i}]") for i, raw in enumerate(request)]
        return [_step(raw, f"request[{i}]", cuts[i] if i < len(cuts) else None) for i, raw in enumerate(request)]
    return [_step(request, "request", cuts[0] if cuts else None)]


#: `fast_create(payload) -> (eventId or None, steps) | None`: the usual `universal.create`
#: (flat string headers, no step `authorization` or `config`, a valid eventId) read whole in
#: Rust (`_codec.create_reader`'s reader): its eventId and the steps `parse_client_message` gives for it,
#: as the pipeline takes them, built in the same call by `cut_step_request`'s rules (stream,
#: model). None for any other message: parse it with `parse_client_message`, which reports
#: every mistake. A builtin of one argument (`_codec.create_reader`): no Python frame a message.
fast_create = _codec.create_reader(MAX_DEPTH, MAX_EVENT_ID, make_step_request)


def parse_client_message(payload: bytes) -> Create | Cancel:
    """Decode one client text message. Raises MessageError (with the eventId when it could be
    read, and `tied` when the error should be answered as that request's result) for invalid
    JSON, a non-string eventId, nesting deeper than MAX_DEPTH, or a malformed request."""
    # The steps' query objects are cut out in Rust (validated, depth-checked, never decoded);
    # what is left is decoded and checked here. An unusual message is decoded whole.
    cut = _codec.cut_queries(payload, MAX_DEPTH)
    if cut is not None:
        payload, cuts = cut
    else:
        cuts = None
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise MessageError(f"message is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MessageError("message must be a JSON object with a \"type\"")
    kind = doc.get("type")
    request = doc.get("request")
    # eventId: in the request (Cloudflare's place), the first step of an array, or top level.
    if isinstance(request, dict) and "eventId" in request:
        event_id = _event_id(request["eventId"])
    elif isinstance(request, list) and request and isinstance(request[0], dict) and "eventId" in request[0]:
        event_id = _event_id(request[0]["eventId"])
    else:
        event_id = _event_id(doc.get("eventId"))
    if nests_deeper_than(MAX_DEPTH, payload, doc):
        raise MessageError(
            f"message nests deeper than {MAX_DEPTH} levels of objects and arrays",
            event_id,
            tied=kind == CREATE and event_id is not None,
        )
    if kind == CREATE:
        if request is None:
            raise MessageError("universal.create needs a \"request\"", event_id, tied=event_id is not None)
        try:
            return Create(event_id, parse_steps(request, cuts))
        except BadRequest as exc:
            raise MessageError(exc.message, event_id, tied=event_id is not None) from None
    if kind == CANCEL:
        if event_id is None:
            raise MessageError("universal.cancel needs an \"eventId\"")
        return Cancel(event_id)
    if kind is None:
        raise MessageError("message has no \"type\"", event_id)
    raise MessageError(f"unknown message type {kind!r}", event_id)


# ---- server → client ----------------------------------------------------------------------


def json_fragment(body: bytes) -> Any:
    """`body` spliced as raw JSON when it is JSON in valid UTF-8, else as a JSON string
    (decoded leniently). Validated in Rust, as the stream relay does: no Python objects."""
    if _codec.is_json(body):
        return orjson.Fragment(body)
    return body.decode("utf-8", "replace")


def created(metadata: dict[str, Any], response: bytes | None = None, *, error: dict | None = None) -> bytes:
    """A `universal.created` message; `response` is the provider's body, unchanged."""
    doc: dict[str, Any] = {"type": "universal.created", "metadata": metadata}
    if error is not None:
        doc["response"] = error
    elif response is not None:
        doc["response"] = json_fragment(response)
    return orjson.dumps(doc)


def stream_message(event_id: str, data: bytes) -> bytes:
    """One `universal.stream` message (the Rust relay builds these on the hot path)."""
    return orjson.dumps({"type": "universal.stream", "metadata": {"eventId": event_id}, "response": json_fragment(data)})


def done(metadata: dict[str, Any]) -> bytes:
    """`universal.done`, repeating the full metadata."""
    return orjson.dumps({"type": "universal.done", "metadata": metadata})


def error_message(code: int, message: str, event_id: str | None = None, status: int = 400) -> bytes:
    """`universal.error`: a message that could not be tied to a request (bad JSON, unknown type)."""
    metadata: dict[str, Any] = {"status": status}
    if event_id is not None:
        metadata["eventId"] = event_id
    return orjson.dumps({"type": "universal.error", "metadata": metadata, "error": {"code": code, "message": message}})


def error_body(code: int, message: str) -> dict:
    """Cloudflare's API error body."""
    return {"success": False, "result": None, "messages": [], "errors": [{"code": code, "message": message}]}
