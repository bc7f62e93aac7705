"""The /compat HTTP doors (docs/compat.md), for any provider named by `model: "{provider}/{model}"`
or a dynamic route `model: "dynamic/{route}"`:

* `POST /v1/{account}/{gateway}/compat/chat/completions`: OpenAI's chat schema;
* `POST …/compat/v1/messages`: Anthropic's Messages schema;
* `POST …/compat/embeddings`: OpenAI's embeddings schema;
* `GET …/compat/models`: the models the configured providers serve, OpenAI's list shape.

A request becomes pipeline steps, each with its own translation: one step for a plain
`provider/model`, the route's ordered fallback chain for `dynamic/…` (each model element's
`timeout` and `retries` in its step `config`). The answer goes through a `TranslatingSink` over
the `HttpSink`, or, for one plain step to a provider that speaks the front door's own schema,
through an `HttpSink` that only answers the gateway's errors in that schema;
`cf-aig-provider` / `cf-aig-model` name the step that answered.

Credentials: the provider's stored key (BYOK, `[providers.<slug>] key`); the client's own
`Authorization` is meant for the gateway's OpenAI-shaped API and is not forwarded.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, Coroutine, Mapping, Sequence

import orjson

from aigw import _codec
from aigw.api.gateway_context import GatewayContext
from aigw.api.http_routes import client_hop_headers, request_event_id
from aigw.api.http_sink import HttpSink, deliver_natively
from aigw.compat.catalog import model_list
from aigw.compat.embeddings import EmbeddingTranslation, resolve_embedding_target
from aigw.compat.ir import InvalidCompatRequest, gateway_error
from aigw.compat.routes import Route, RouteInput, RouteStep, evaluate
from aigw.compat.sink import UNTRANSLATED, TranslatingSink, answered_as
from aigw.compat.translation import Passthrough, Targets, Translation, front_door_error, parse_body, passthrough_call, passthrough_of, split_model
from aigw.errors import AigwError, InvalidProvider
from aigw.logrecords import new_log_id, parse_metadata_header
from aigw.memo import Memo
from aigw.pipeline import Answer, GatewayRequest, Runtime, StepRequest, make_gateway_request, make_step_request, run
from aigw.protocol.http11 import HttpResponse, Request
from aigw.server.app import streamed_response
from aigw.slots_maker import slot_writer
from aigw.validation import CheckedHeaders

__all__ = ["CompatDoors", "CHAT_PATTERN", "MESSAGES_PATTERN", "EMBEDDINGS_PATTERN", "MODELS_PATTERN", "configured_model_lists", "plan_steps"]

CHAT_PATTERN = "/v1/{account}/{gateway}/compat/chat/completions"
MESSAGES_PATTERN = "/v1/{account}/{gateway}/compat/v1/messages"
EMBEDDINGS_PATTERN = "/v1/{account}/{gateway}/compat/embeddings"
MODELS_PATTERN = "/v1/{account}/{gateway}/compat/models"


#: `CompatDoors._handle`'s `lone` when the body was not read before.
_UNREAD: Any = object()


class CompatDoors:
    """The /compat handlers, bound to the runtime, the configured provider formats, the
    dynamic routes and the configured model lists."""

    # Slots: the gateway's native door reads `runtime`, `_plains` and `on_record` in place
    # (rust/src/python/usual_compat.rs).
    __slots__ = ("runtime", "formats", "targets", "_plains", "routes", "model_lists", "on_record", "limiter")

    def __init__(
        self,
        runtime: Runtime,
        formats: Mapping[str, str],
        *,
        routes: Mapping[str, Route] | None = None,
        model_lists: Mapping[str, Sequence[str]] | None = None,
        on_record: Callable[[Any], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.formats = formats
        self.targets = Targets(runtime.providers, formats)
        #: Each chat door's model names: their Passthrough, or False (see `_passthrough`).
        self._plains: dict[str, Memo[str, Passthrough | bool]] = {
            front: Memo(functools.partial(self._passthrough, front), Targets.MAX_REMEMBERED) for front in ("openai", "anthropic")
        }
        self.routes = routes or {}
        self.model_lists = model_lists or {}
        self.on_record = on_record
        # rate_limit elements count with the gateway's limiter; without one, in this process.
        if runtime.limiter is not None:
            self.limiter = runtime.limiter
        else:
            from aigw.builtins.window_limiter import WindowRateLimiter

            self.limiter = WindowRateLimiter()

    def chat_completions(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Coroutine[Any, Any, Any]:
        """OpenAI chat completions to any provider. The awaitable answer is `_handle`'s own
        coroutine (one frame fewer each time the request resumes)."""
        return self._handle("openai", request, ctx)

    def messages(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Coroutine[Any, Any, Any]:
        """Anthropic Messages to any provider. The awaitable answer is `_handle`'s own
        coroutine (one frame fewer each time the request resumes)."""
        return self._handle("anthropic", request, ctx)

    def embeddings(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Coroutine[Any, Any, Any]:
        """OpenAI embeddings to OpenAI, Google AI Studio, Workers AI and the compatible family. The awaitable answer is `_handle`'s own
        coroutine (one frame fewer each time the request resumes)."""
        return self._handle("embeddings", request, ctx)

    async def models(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> HttpResponse:
        """`GET …/compat/models`: OpenAI's model list of what the configured providers serve
        (aigw.compat.catalog)."""
        body = model_list(self.runtime.providers, self.formats, self.model_lists)
        return HttpResponse(200, orjson.dumps(body), [("content-type", "application/json")])

    async def universal_steps(self, request: GatewayRequest, inner: Any) -> Any:
        """Expand the `provider: "compat"` steps of a Universal WebSocket request in place (each
        into its provider step, or a dynamic route's chain) and return the sink to answer
        through: `inner` wrapped in a TranslatingSink that leaves the surface's own errors to
        `inner` and sets the answering step's `provider`/`model` in its metadata. Other steps
        run as they are. Raises AigwError (400) for a compat step it cannot plan."""
        steps: list[StepRequest] = []
        translations: list[Any] = []
        metadata: list[dict[str, Any]] = []
        for step in request.steps:
            if step.provider != "compat":
                steps.append(step)
                translations.append(UNTRANSLATED)
                metadata.append({})
                continue
            if step.endpoint != "chat/completions":
                raise InvalidCompatRequest(f"a compat step's endpoint must be \"chat/completions\", got {step.endpoint!r}", "endpoint")
            step_headers = {str(k).lower(): str(v) for k, v in step.headers.items()}
            merged = {**request.headers, **step_headers}
            doc = parse_body(step.body)

            def route_input(merged: dict[str, str] = merged, doc: dict = doc) -> RouteInput:
                return RouteInput(parse_metadata_header(merged.get("cf-aig-metadata")) or {}, merged, doc)

            # Only the gateway's own options follow the step to its providers: a provider
            # header (a key, a beta flag) cannot mean the same to every provider a route picks.
            options = {k: v for k, v in step_headers.items() if k.startswith("cf-aig-")}
            for planned, tr in await plan_steps("openai", doc, route_input, self.runtime.providers, self.formats, self.routes, self.limiter,
                                                targets=self.targets):
                config = {**(step.config or {}), **(planned.config or {})} or None
                steps.append(dataclasses.replace(planned, headers=options, config=config))
                translations.append(tr)
                metadata.append({"provider": tr.target.provider, "model": tr.target.model})
        request.steps = steps
        inner.step_metadata = metadata
        return TranslatingSink(inner, translations, own_errors=False)

    async def _handle(self, front: str, request: Request, ctx: GatewayContext | None, lone: Any = _UNREAD) -> Any:
        # `lone`: `_codec.lone_model(request.body)`, when the gateway's native door read it.
        assert ctx is not None  # not a public route
        _, options = client_hop_headers(request)
        log_id = new_log_id()
        try:
            event_id = request_event_id(options, log_id) if options else log_id
            sent = request.body
            # The usual chat body's lone top-level "model" string (and "stream") read in one
            # native pass; a plain pass-through's name is resolved once (`_passthrough`) and
            # the body goes as it came, that string replaced.
            if lone is _UNREAD:
                lone = _codec.lone_model(sent) if front != "embeddings" else None
            if lone is not None:
                plain = self._plains[front][lone[1]]
                if plain and plain.spliced_model is not None:
                    stream, _, start, end = lone
                    endpoint, query = plain.calls[stream]
                    body = _codec.splice(sent, start, end, plain.spliced_model)
                    # Step headers the pipeline need not check (none: the client's are not
                    # forwarded; its options are the request's).
                    steps = [make_step_request(plain.provider, endpoint, CheckedHeaders(), body, stream, plain.model, None, "POST", query)]
                    return self._answer(ctx, event_id, steps, options, log_id, None, plain.answering, front)
            doc = parse_body(sent)
            provider, model = split_model(doc.get("model"))
            if provider == "dynamic":
                steps, translations, answering = await self._route(front, request, options, doc)
            else:
                steps, translations, answering = self._plan(front, doc, provider, model)
        except AigwError as err:
            return _error("openai" if front == "embeddings" else front, err)
        return self._answer(ctx, event_id, steps, options, log_id, translations, answering, front)

    def _answer(
        self, ctx: GatewayContext, event_id: str, steps: list[StepRequest], options: Any, log_id: str,
        translations: Sequence[Any] | None, answering: Sequence[tuple[str, str]], front: str,
    ) -> Any:
        """The streamed response that runs `steps` through the pipeline: through a pass-through
        sink naming `answering` when `translations` is None, else a translating sink."""
        principal = ctx.principal.id if ctx.principal is not None else None
        gw_request = make_gateway_request(ctx.name, "compat", event_id, steps, options, log_id, principal)
        runtime, policy, on_record = self.runtime, ctx.policy, self.on_record
        if on_record is None:  # the producer is the pipeline's own coroutine (see HttpDoors._answer)
            if translations is None:
                return streamed_response(lambda response: run(runtime, policy, gw_request, _passthrough_sink(response, front, answering)))
            return streamed_response(lambda response: run(runtime, policy, gw_request, _translating_sink(response, translations)))

        def sink(response: Any) -> Any:
            if translations is None:
                return _passthrough_sink(response, front, answering)
            return _translating_sink(response, translations)

        async def produce(response: Any) -> None:
            on_record(await run(runtime, policy, gw_request, sink(response)))

        return streamed_response(produce)

    def _passthrough(self, front: str, name: str) -> Passthrough | bool:
        """The Passthrough of model `name` on chat door `front` (what `_plains` remembers);
        False for any other name (a dynamic route, a translated target, a name `split_model`
        refuses: `_plan` answers those). Raises what `Targets` raises."""
        provider, _, model = name.partition("/")
        if not provider or not model or provider == "dynamic":
            return False
        return passthrough_of(front, self.targets(provider, model), model) or False

    async def _route(
        self, front: str, request: Request, options: Mapping[str, str], doc: dict,
    ) -> tuple[list[StepRequest], Sequence[Any], Sequence[tuple[str, str]]]:
        """(steps, translations, ()) of a request whose `doc` names `dynamic/<route>`: the
        route's chain, each step with its translation. Raises AigwError."""

        def route_input() -> RouteInput:
            return RouteInput(
                parse_metadata_header(options.get("cf-aig-metadata")) or {},
                request.headers.last_values(),  # lowercase names, each with its last value
                doc,
            )

        planned = await plan_steps(front, doc, route_input, self.runtime.providers, self.formats, self.routes, self.limiter,
                                   targets=self.targets)
        return [step for step, _ in planned], [tr for _, tr in planned], ()

    def _plan(
        self, front: str, doc: dict, provider: str, model: str,
    ) -> tuple[list[StepRequest], Sequence[Any] | None, Sequence[tuple[str, str]]]:
        """(steps, translations, answering) of a decoded request to a plain `provider/model`:
        an embeddings step, a translated step, or a pass-through whose body is shaped here
        (translations None; `answering` names its step). Raises AigwError."""
        if front == "embeddings":
            step, translation = plan_step(front, doc, provider, model, None, self.runtime.providers, self.formats, self.targets)
            return [step], [translation], ()
        target = self.targets(provider, model)
        plain = self._plains[front][doc["model"]]  # split_model took it: a str
        if not plain:
            step, translation = translated_step(front, doc, model, None, target)
            return [step], [translation], ()
        stream = doc.get("stream") is True
        endpoint, query, body = passthrough_call(doc, target, stream)
        return [make_step_request(provider, endpoint, CheckedHeaders(), body, stream, model, None, "POST", query)], None, plain.answering


async def plan_steps(
    front: str,
    doc: dict,
    route_input: Callable[[], RouteInput],
    providers: Mapping[str, Any],
    formats: Mapping[str, str],
    routes: Mapping[str, Route],
    limiter: Any,
    *,
    targets: Callable[[str, str], Any],
) -> list[tuple[StepRequest, Any]]:
    """The pipeline steps of one /compat request, each with its translation: one for
    `provider/model`, the evaluated fallback chain for `dynamic/<route>`. `front` is "openai",
    "anthropic" (chat) or "embeddings". `route_input()` is what a dynamic route's conditions
    read (called only for one); `targets(provider, model)` resolves a chat target (the
    doors' `Targets`); `providers` and `formats` resolve embedding targets. Raises
    InvalidProvider (400/2008) for an unknown provider or route, UnsupportedParameter (400)
    when a step's provider cannot honour a parameter, RateLimited (429) from a route's rate
    limit without a fallback branch."""
    provider, model = split_model(doc.get("model"))
    if provider == "dynamic":
        route = routes.get(model)
        if route is None:
            raise InvalidProvider(f"Invalid provider: no dynamic route named {model!r} is configured")
        chosen: list[RouteStep] = await evaluate(route, route_input(), limiter)
        steps = [(rs.provider, rs.model, _step_config(rs)) for rs in chosen]
    else:
        steps = [(provider, model, None)]  # a plain name: one step, no route options
    return [plan_step(front, doc, provider, model, step_config, providers, formats, targets) for provider, model, step_config in steps]


def plan_step(
    front: str, doc: dict, provider: str, model: str, step_config: dict[str, Any] | None,
    providers: Mapping[str, Any], formats: Mapping[str, str], targets: Callable[[str, str], Any],
) -> tuple[StepRequest, Any]:
    """One step of a /compat request to `provider/model` and its translation (see
    `plan_steps`, which raises what this raises)."""
    if front == "embeddings":
        et = resolve_embedding_target(provider, model, providers, formats)
        emb = EmbeddingTranslation(doc, et)
        call = emb.upstream_call()
        return make_step_request(provider, call.endpoint, {}, call.body, False, model, step_config, "POST", call.query), emb
    return translated_step(front, doc, model, step_config, targets(provider, model))


def translated_step(front: str, doc: dict, model: str, step_config: dict[str, Any] | None, target: Any) -> tuple[StepRequest, Translation]:
    """The chat step of a /compat request to `target` (its provider's `model`) and its
    Translation. Raises UnsupportedParameter or InvalidCompatRequest (400)."""
    translation = Translation(front, doc, target)
    call = translation.upstream_call()
    return make_step_request(target.provider, call.endpoint, {}, call.body, call.stream, model, step_config, "POST", call.query), translation


def configured_model_lists(providers: Mapping[str, Any]) -> dict[str, Sequence[str] | None]:
    """Each configured provider's `models = [...]` (a list of model names), or None when its
    table has none (then `GET …/compat/models` lists the provider's static models)."""
    out: dict[str, Sequence[str] | None] = {}
    for slug, settings in providers.items():
        models = settings.options.get("models")
        out[slug] = [m for m in models if isinstance(m, str)] if isinstance(models, (list, tuple)) else None
    return out


def _step_config(rs: RouteStep) -> dict[str, Any] | None:
    """A route model element's `timeout` (ms) and `retries` as the step `config` keys the
    pipeline's retry policy reads (`requestTimeout`, `maxAttempts`)."""
    config: dict[str, Any] = {}
    if rs.timeout_ms is not None:
        config["requestTimeout"] = rs.timeout_ms
    if rs.retries is not None:
        config["maxAttempts"] = rs.retries + 1
    return config or None


class _AnsweringStepSink(HttpSink):
    """The HTTP sink, plus `cf-aig-provider` / `cf-aig-model` of the step that answered (the
    target of its translation)."""

    __slots__ = ("translations",)

    def __init__(self, response: Any, translations: Sequence[Any]) -> None:
        super().__init__(response, step_header=False)
        self.translations = translations

    def gateway_headers(self, answer: Answer) -> list[tuple[str, str]]:
        target = self.translations[min(answer.step or 0, len(self.translations) - 1)].target
        return super().gateway_headers(answer) + [("cf-aig-provider", target.provider), ("cf-aig-model", target.model)]


def _translating_sink(response: Any, translations: Sequence[Any]) -> TranslatingSink:
    """The sink of a translated /compat request: its translations over the HTTP sink that names
    the answering step."""
    return TranslatingSink(_AnsweringStepSink(response, translations), translations)


class _PassthroughSink(HttpSink):
    """The HTTP sink of a plain /compat request whose provider speaks the front door's schema:
    answers as they came (as `TranslatingSink` passes them), plus `cf-aig-provider` /
    `cf-aig-model`; the gateway's own errors in the front door's error shape."""

    #: Bodies are read whole or relayed as they would be through a TranslatingSink.
    passes_through = False

    __slots__ = ("front",)

    def fail(self, answer: Answer, error: AigwError) -> None:
        """The gateway's own error, in the front door's error shape."""
        status, body = front_door_error(self.front, gateway_error(error))
        self.deliver(answered_as(answer, status, "application/json"), body)


#: `_PassthroughSink(response, front, answering)`: made in one native call, per request.
_passthrough_sink = slot_writer(_PassthroughSink, ("response", "front", "extra_headers"), {"step_header": False})
# Its usual whole answer is written natively, as HttpSink's is.
deliver_natively(_PassthroughSink)


def _error(front: str, err: AigwError) -> HttpResponse:
    """The gateway's own error before any step ran, in the front door's error shape."""
    status, body = front_door_error(front, gateway_error(err))
    return HttpResponse(status, body, [("content-type", "application/json")])
