"""Azure OpenAI: `/{resource}/{deployment}/…?api-version=…`, `api-key`, keys per resource.

Cloudflare's form (cloudflare-aigw.md §4) puts the resource and the deployment first:
`azure-openai/{resource}/{deployment}/chat/completions?api-version=2024-10-21` goes to
`https://{resource}.openai.azure.com/openai/deployments/{deployment}/chat/completions?...`.
The v1 API (`{resource}/v1/chat/completions`, deployment in the body's `model`) goes to
`https://{resource}.openai.azure.com/openai/v1/...`. Bodies and streams are OpenAI's, plus
content-filter annotations; a stream's first chunk may have empty `choices`, `id` and `model`
(providers.md §2). A stored key goes in `api-key`; clients may send `api-key` or an Entra ID
`Authorization: Bearer` token. Stored keys are per resource: the alias named like the resource
is preferred over "default" (`key_alias`).

Config (`[providers.azure-openai]`): `base_url` may contain `{resource}` (default
`https://{resource}.openai.azure.com/openai`); `api_version` is added when the client sent none.
"""

from __future__ import annotations

import re
from typing import Mapping

from aigw.builtins.providers.openai import OpenAIProvider
from aigw.errors import BadRequest
from aigw.providers import classify_http_error, loads_or_none
from aigw.types import Call, ErrorClass
from aigw.validation import check_endpoint

DEFAULT_BASE = "https://{resource}.openai.azure.com/openai"
# An Azure resource name: letters, digits and hyphens (it becomes a DNS label).
_RESOURCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")
_RETRY_IN_MESSAGE = re.compile(r"retry after (\d+(?:\.\d+)?) seconds?", re.IGNORECASE)


def _cloudflare_form(endpoint: str) -> str:
    """`{resource}/{deployment}/{path}` from the two other shapes the `openai` SDK's Azure
    client writes: with `azure_endpoint=…/azure-openai/{resource}` it sends Azure's own layout
    `{resource}/openai/deployments/{deployment}/{path}` (or `{resource}/openai/v1/{path}`); with
    `base_url=…/azure-openai/{resource}/{deployment}` it appends `deployments/{model}` itself,
    giving `{resource}/{deployment}/deployments/{model}/{path}`. The two names must agree
    there (in Azure's API the model *is* the deployment); BadRequest when they do not."""
    parts = endpoint.split("/", 4)
    if len(parts) >= 4 and parts[1] == "openai" and parts[2] in ("deployments", "v1"):
        if parts[2] == "v1":
            return "/".join([parts[0], "v1", *parts[3:]])
        return "/".join([parts[0], *parts[3:]])
    if len(parts) == 5 and parts[2] == "deployments" and parts[3]:
        if parts[3] != parts[1]:
            raise BadRequest("azure-openai: the URL names one deployment and the request's model another (Azure's model is the deployment)")
        return "/".join([parts[0], parts[1], parts[4]])
    return endpoint


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI Service, classic deployment URLs and the v1 API."""

    name = "azure-openai"
    default_base_url = DEFAULT_BASE
    auth_header = "api-key"
    auth_scheme = ""

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """An `api-key` or an Entra ID bearer token."""
        return bool(headers.get("api-key") or headers.get("authorization"))

    def key_alias(self, call: Call) -> str | None:
        """The resource: `[providers.azure-openai] keys = {myresource = "env:…"}` holds one
        key per resource, and a resource without its own alias uses "default"."""
        resource, _, _ = call.endpoint.lstrip("/").partition("/")
        return resource or None

    def url_for(self, call: Call) -> str:
        """`{resource}/{deployment}/{rest}` → `…/deployments/{deployment}/{rest}`,
        `{resource}/v1/{rest}` → `…/v1/{rest}`; `api_version` added when configured and absent."""
        parts = _cloudflare_form(call.endpoint.lstrip("/")).split("/", 2)
        if len(parts) < 3 or not _RESOURCE.fullmatch(parts[0]) or not parts[1]:
            raise BadRequest("azure-openai endpoints are {resource}/{deployment}/{path}, e.g. my-resource/gpt-4o/chat/completions")
        resource, deployment, rest = parts
        check_endpoint(rest, "request")
        base = self.base_url.replace("{resource}", resource)
        path = f"v1/{rest}" if deployment == "v1" else f"deployments/{deployment}/{rest}"
        query = call.query
        version = self.options.get("api_version")
        if deployment != "v1" and version and "api-version=" not in query:
            query = f"{query}&api-version={version}" if query else f"api-version={version}"
        return f"{base}/{path}?{query}" if query else f"{base}/{path}"

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """Common verdict; a 429 without a retry header takes the delay Azure writes in its
        message ("Please retry after 6 seconds"). A content-filter 400 is final."""
        verdict = classify_http_error(status, headers)
        if status == 429 and verdict.retry_after is None:
            doc = loads_or_none(body)
            message = doc.get("error", {}).get("message") if isinstance(doc, dict) and isinstance(doc.get("error"), dict) else None
            match = _RETRY_IN_MESSAGE.search(message) if isinstance(message, str) else None
            if match:
                verdict.retry_after = float(match[1])
        return verdict

