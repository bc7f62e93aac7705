"""Azure OpenAI as ``{resource}.openai.azure.com/openai`` serves it (providers.md §2).

One simulator stands for every resource: the resource is the first path segment, so the base
URL is ``ROOT/{resource}/openai`` with a literal ``{resource}`` placeholder that the gateway
fills in (``[providers.azure-openai] base_url``), and each request records which resource it
reached.

* ``POST /{resource}/openai/deployments/{deployment}/chat/completions?api-version=…`` and
  ``…/embeddings``; the v1 API ``/{resource}/openai/v1/chat/completions`` (no api-version);
* auth: ``api-key: <key>`` or ``Authorization: Bearer <key>`` (an Entra token); a wrong or
  missing key is 401 ``{"error": {"code": "401", "message": "Access denied due to invalid
  subscription key or wrong API endpoint…"}}``;
* a deployment URL without ``api-version`` is 404 ``{"error": {"code": "404", "message":
  "Resource not found"}}``;
* errors ``{"error": {"code", "message"}}``; 429 says "Please retry after N seconds" and sends
  ``retry-after`` and ``retry-after-ms``;
* content filter: a prompt containing ``sim-content-filter`` is refused with 400
  ``code: content_filter`` and ``innererror.code: ResponsibleAIPolicyViolation``;
* streams: OpenAI chunks, the first one ``{"id": "", "object": "", "model": "", "choices": [],
  "prompt_filter_results": […]}``, content chunks with ``content_filter_results``, ``[DONE]``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._core import Call, Frame, sse
from .openai import OpenAIChatFamily

_FILTER_OK = {
    kind: {"filtered": False, "severity": "safe"} for kind in ("hate", "self_harm", "sexual", "violence")
}
_PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": _FILTER_OK}]
CONTENT_FILTER_TRIGGER = "sim-content-filter"


class AzureOpenAISimulator(OpenAIChatFamily):
    """Azure OpenAI deployments (and the v1 API) for any resource name."""

    slug = "azure-openai"
    default_key = "sim-azure-key"
    base_path = "/{resource}/openai"

    def routes(self) -> list[web.RouteDef]:
        """Deployment chat completions and embeddings, and the v1 chat completions."""
        deployment = "/{resource}/openai/deployments/{deployment}"
        return [
            web.post(deployment + "/chat/completions", self.chat_completions),
            web.post(deployment + "/embeddings", self.embeddings),
            web.post("/{resource}/openai/v1/chat/completions", self.chat_completions),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``api-key`` or Bearer equal to ``key``; deployment URLs need ``api-version``."""
        if (request.headers.get("api-key") or self.bearer_key(request)) != self.key:
            return self.error_response(401, "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
        if "deployment" in request.match_info and "api-version" not in request.query:
            return self.error_response(404, "Resource not found")
        return None

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The deployment names the model (the v1 API takes it from the body)."""
        return request.match_info.get("deployment") or super().model_of(request, body)

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error": {"code": "<status>", "message"}}``; 429 names its delay in the message."""
        if status == 429:
            seconds = int(self.retry_after)
            message = (
                "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
                "2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. "
                f"Please retry after {seconds} seconds."
            )
        return {"error": {"code": str(status), "message": message}}, {}

    def rate_limit_headers(self) -> dict[str, str]:
        """``retry-after`` and ``retry-after-ms``, and the remaining counts at zero."""
        return {
            **super().rate_limit_headers(),
            "retry-after-ms": str(int(self.retry_after * 1000)),
            "x-ratelimit-remaining-requests": "0",
        }

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """``apim-request-id``, ``x-ms-region`` and the rate-limit state."""
        return {
            "apim-request-id": f"apim-{call.id if call else 'error'}",
            "x-request-id": f"req_{call.id if call else 'error'}",
            "x-ms-region": "Sim Region",
            "x-ratelimit-remaining-requests": "99",
            "x-ratelimit-remaining-tokens": "9990",
        }

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:  # type: ignore[override]
        """Refuse a prompt that trips the (simulated) content filter, else answer as OpenAI."""
        body = await request.read()
        if CONTENT_FILTER_TRIGGER.encode() in body and self.check_auth(request) is None:
            self._record(request, body)
            return self.content_filter_response()
        return await super().chat_completions(request)

    def content_filter_response(self) -> web.Response:
        """Azure's 400 for a filtered prompt."""
        filtered = {**_FILTER_OK, "violence": {"filtered": True, "severity": "high"}}
        error = {
            "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
            "type": None,
            "param": "prompt",
            "code": "content_filter",
            "status": 400,
            "innererror": {"code": "ResponsibleAIPolicyViolation", "content_filter_result": filtered},
        }
        return web.json_response({"error": error}, status=400, headers=self.response_headers(None))

    def completion_extras(self, call: Call, usage: dict[str, Any]) -> dict[str, Any]:
        """``prompt_filter_results`` on every completion."""
        return {"prompt_filter_results": _PROMPT_FILTER}

    def decorate_chunk(
        self, call: Call, chunk: dict[str, Any], *, index: int, final: bool, usage: dict[str, Any]
    ) -> dict[str, Any]:
        """Content chunks carry ``content_filter_results``."""
        for choice in chunk["choices"]:
            if choice["delta"].get("content"):
                choice["content_filter_results"] = _FILTER_OK
        return chunk

    def chat_frames(self, call: Call, reply: str, finish: str, usage: dict[str, Any]) -> list[Frame]:
        """OpenAI's frames after Azure's anonymous prompt-filter chunk."""
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": _PROMPT_FILTER}
        return [(sse(first), False), *super().chat_frames(call, reply, finish, usage)]

