"""Cloudflare's HTTP doors (http-api.md), each a thin translation into a `GatewayRequest` for
the shared pipeline, answered through the `HttpSink`:

* ``POST /v1/{account}/{gateway}``: the Universal endpoint, a step object or an array of
  fallback steps (`provider`, `endpoint`, `headers`, `query`, `config`), the same fallback,
  retry and timeout rules as the Universal WebSocket API;
* ``ANY /v1/{account}/{gateway}/{provider}/{rest}``: a provider's own API passed through:
  method, query string and body as sent, the provider's status, headers and body back.

Gateway resolution and authentication happened before (the router's front door); a handler
gets the `GatewayContext`. Request-level options are the `cf-aig-*` request headers.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping
from urllib.parse import unquote

import orjson

from aigw import _codec
from aigw.api.gateway_context import GatewayContext
from aigw.api.http_sink import gateway_error_body, plain_http_sink
from aigw.api.universal_messages import MAX_DEPTH, MAX_EVENT_ID, nests_deeper_than, parse_steps
from aigw.errors import AigwError, BadRequest
from aigw.logrecords import new_log_id
from aigw.pipeline import GatewayRequest, Runtime, make_gateway_request, make_step_request, run
from aigw.protocol.http11 import HttpResponse, Request
from aigw.server.app import StreamedResponse, streamed_response
from aigw.validation import CheckedHeaders

__all__ = ["HttpDoors", "client_hop_headers"]

#: Request headers that describe the client's hop to the gateway, never a provider's business
#: (a pass-through request gets its own framing from the upstream client).
_HOP = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
        "accept-encoding",  # the upstream client negotiates (and undoes) its own encoding
    }
)


def client_hop_headers(request: Request) -> tuple[dict[str, str], dict[str, str]]:
    """Split an HTTP request's headers into (provider headers, gateway options): the `cf-aig-*`
    options (minus the gateway token) and everything meant for the provider, without the
    client hop's own headers (those above, `proxy-*`, and any named in `Connection`). W3C
    `traceparent` goes to both: the provider gets it, and it is the request's trace.

    Headers as the server's parser yields them (lowercase token names, clean field values) are
    split in one native pass into `CheckedHeaders`, which the pipeline does not check again;
    anything else is split here into plain dicts, and checked by the pipeline as a Universal
    step's headers are."""
    split = _codec.split_client_fields(request.headers.raw, _HOP, CheckedHeaders)
    if split is not None:
        return split
    provider: dict[str, str] = {}
    options: dict[str, str] = {}
    named = request.headers.get("connection")
    hop = _HOP | {n.strip().lower() for n in named.split(",")} if named else _HOP
    # Names come lowercased from the parser; a repeated name keeps its last value.
    for lname, value in request.headers.last_values().items():
        if lname.startswith("cf-aig-"):
            if lname != "cf-aig-authorization":
                options[lname] = value
        elif lname not in hop and not lname.startswith("proxy-"):
            provider[lname] = value
            if lname == "traceparent":
                options[lname] = value
    return provider, options


def _error(error: AigwError) -> HttpResponse:
    return HttpResponse(error.status, gateway_error_body(error), [("content-type", "application/json")])


def request_event_id(options: Mapping[str, str], log_id: str) -> str:
    """The client's `cf-aig-event-id` (checked like a Universal eventId), else the request's
    log id (Cloudflare: for a request that names none, the ids are one and the same)."""
    event_id = options.get("cf-aig-event-id")
    if event_id is None:
        return log_id
    if not event_id or len(event_id) > MAX_EVENT_ID:
        raise BadRequest(f"cf-aig-event-id must be 1 to {MAX_EVENT_ID} characters")
    return event_id


class HttpDoors:
    """The HTTP route handlers, bound to the runtime resolved at start-up. The usual provider
    route request is made natively as `provider` makes it (rust/src/python/usual_door.rs,
    installed by aigw.gateway.GatewayApp)."""

    __slots__ = ("runtime", "on_record")

    def __init__(self, runtime: Runtime, *, on_record: Callable[[Any], None] | None = None) -> None:
        self.runtime = runtime
        self.on_record = on_record

    def _answer(self, ctx: GatewayContext, request: GatewayRequest, *, step_header: bool) -> StreamedResponse:
        runtime, policy, on_record = self.runtime, ctx.policy, self.on_record
        if on_record is None:
            # The producer is the pipeline's own coroutine: no frame of ours to pass through
            # each time the request resumes.
            return streamed_response(lambda response: run(runtime, policy, request, plain_http_sink(response, step_header)))

        async def produce(response: Any) -> None:
            on_record(await run(runtime, policy, request, plain_http_sink(response, step_header)))

        return streamed_response(produce)

    async def universal(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """``POST /v1/{account}/{gateway}``: run the steps in order until one answers."""
        assert ctx is not None  # not a public route
        try:
            doc = _json_body(request.body)
            steps = parse_steps(doc)
            _, options = client_hop_headers(request)
            log_id = new_log_id()
            event_id = request_event_id(options, log_id)
        except AigwError as err:
            return _error(err)
        principal = ctx.principal.id if ctx.principal is not None else None
        gw_request = make_gateway_request(ctx.name, "universal", event_id, [s.step_request() for s in steps], options, log_id, principal)
        return self._answer(ctx, gw_request, step_header=True)

    async def provider(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """``ANY /v1/{account}/{gateway}/{provider}/{rest}``: the provider's own API, passed
        through with the gateway's options, keys, retries, cache and logs."""
        assert ctx is not None
        headers, options = client_hop_headers(request)
        log_id = event_id = new_log_id()
        if options:  # the usual request sends no option, so no cf-aig-event-id
            try:
                event_id = request_event_id(options, log_id)
            except AigwError as err:
                return _error(err)
        body, target, query = request.body, request.target, request.query
        endpoint = params["rest"] if "%" not in target else _encoded_rest(target, params["rest"])
        # Whether the request asks for a stream, and the model it names (for logs and the
        # cache), read as a Universal step's are: from the body only when it is a JSON object
        # that may say either (nothing decoded; a body that is not one says neither, and the
        # provider will say what is wrong with it); else from the endpoint and query (Gemini's
        # `:streamGenerateContent` and `alt=sse`, `-stream` paths; the `models/{m}` or `@cf/`
        # model the endpoint names: universal_messages.asks_to_stream and model_in_endpoint).
        stream, model = _codec.stream_and_model(endpoint, query, headers.get("content-type", "json"), body)
        step = make_step_request(params["provider"], endpoint, headers, body, stream, model, None, request.method, query)
        principal = ctx.principal.id if ctx.principal is not None else None
        gw_request = make_gateway_request(ctx.name, "provider", event_id, [step], options, log_id, principal)
        return self._answer(ctx, gw_request, step_header=False)


def _encoded_rest(target: str, rest: str) -> str:
    """The `{rest}` of a provider route as the client encoded it: the router matches the
    decoded path, but a provider's path is passed on as sent (Bedrock's `v1%3A0` model ids,
    an encoded space or slash) and endpoints are percent-encoded paths (`check_endpoint`).
    Falls back to the decoded `rest` if the raw path does not split the same way."""
    if "%" not in target:
        return rest  # nothing was decoded: the raw rest is `rest` itself
    raw = target.partition("?")[0].split("/", 5)  # "", "v1", account, gateway, provider, rest
    if len(raw) == 6 and unquote(raw[5]) == rest:
        return raw[5]
    return rest


def _json_body(body: bytes) -> Any:
    """A Universal request body: JSON, nested at most MAX_DEPTH levels (BadRequest otherwise)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(doc, (list, dict)):
        raise BadRequest("the request body must be a step object or an array of steps")
    if nests_deeper_than(MAX_DEPTH, body, doc):
        raise BadRequest(f"the request body nests deeper than {MAX_DEPTH} levels of objects and arrays")
    return doc
