"""The /compat HTTP doors: `POST /v1/{account}/{gateway}/compat/chat/completions` (OpenAI's
schema) and `POST …/compat/v1/messages` (Anthropic's), for any provider named by
`model: "{provider}/{model}"` (docs/compat.md). Each builds one pipeline step from the
translated body and answers through a `TranslatingSink` over the `HttpSink`.

Credentials: the provider's stored key (BYOK, `[providers.<slug>] key`); the client's own
`Authorization` is meant for the gateway's OpenAI-shaped API and is not forwarded.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from aigw.api.gateway_context import GatewayContext
from aigw.api.http_routes import client_hop_headers
from aigw.api.http_sink import HttpSink
from aigw.compat import anthropic_format, openai_format
from aigw.compat.ir import ProviderError
from aigw.compat.sink import TranslatingSink
from aigw.compat.translation import Translation, parse_body, resolve_target, split_model
from aigw.errors import AigwError, InvalidProvider
from aigw.logrecords import new_log_id
from aigw.pipeline import GatewayRequest, Runtime, StepRequest, run
from aigw.protocol.http11 import HttpResponse, Request
from aigw.server.app import StreamedResponse

__all__ = ["CompatDoors", "CHAT_PATTERN", "MESSAGES_PATTERN"]

CHAT_PATTERN = "/v1/{account}/{gateway}/compat/chat/completions"
MESSAGES_PATTERN = "/v1/{account}/{gateway}/compat/v1/messages"


class CompatDoors:
    """The /compat handlers, bound to the runtime and the configured provider formats."""

    def __init__(self, runtime: Runtime, formats: Mapping[str, str], *, on_record: Callable[[Any], None] | None = None) -> None:
        self.runtime = runtime
        self.formats = formats
        self.on_record = on_record

    async def chat_completions(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """OpenAI chat completions to any provider."""
        return self._handle("openai", request, ctx)

    async def messages(self, request: Request, params: Mapping[str, str], ctx: GatewayContext | None) -> Any:
        """Anthropic Messages to any provider."""
        return self._handle("anthropic", request, ctx)

    def _handle(self, front: str, request: Request, ctx: GatewayContext | None) -> Any:
        assert ctx is not None  # not a public route
        _, options = client_hop_headers(request)
        try:
            doc = parse_body(request.body)
            provider, model = split_model(doc.get("model"))
            if provider == "dynamic":
                raise InvalidProvider("Invalid provider: dynamic routes are not served over HTTP yet")
            target = resolve_target(provider, model, self.runtime.providers, self.formats)
            translation = Translation(front, doc, target)
            call = translation.upstream_call()
        except AigwError as err:
            return _error(front, err)
        step = StepRequest(provider, call.endpoint, {}, call.body, call.stream, model, None, "POST", call.query)
        gw_request = GatewayRequest(
            ctx.name, "compat", new_log_id(), [step], options, new_log_id(),
            principal=ctx.principal.id if ctx.principal is not None else None,
        )  # fmt: skip
        runtime, policy, on_record = self.runtime, ctx.policy, self.on_record
        extra = [("cf-aig-provider", provider), ("cf-aig-model", model)]

        async def produce(response: Any) -> None:
            sink = TranslatingSink(HttpSink(response, step_header=False, extra_headers=extra), [translation])
            record = await run(runtime, policy, gw_request, sink)
            if on_record is not None:
                on_record(record)

        return StreamedResponse(produce)


def _error(front: str, err: AigwError) -> HttpResponse:
    error = ProviderError(err.status, err.message, None, err.code, getattr(err, "param", None))
    body = openai_format.error_body(error) if front == "openai" else anthropic_format.error_body(error)
    return HttpResponse(err.status, body, [("content-type", "application/json")])
