"""/compat targets of the cloud providers, whose `model` names more than a model:

* `azure-openai/{resource}/{deployment}`: OpenAI's format at
  `{resource}/{deployment}/chat/completions?api-version=…` (the provider's Cloudflare form;
  `api_version` from `[providers.azure-openai]`, else `DEFAULT_AZURE_API_VERSION`); the body's
  `model` is the deployment. The stored key is the resource's alias, else "default".
* `google-vertex-ai/{publisher}/{model}` (Cloudflare's `google-vertex-ai/google/gemini-2.5-pro`)
  or `google-vertex-ai/{model}`: Gemini's format at
  `v1/projects/-/locations/-/publishers/google/models/{m}:generateContent` (streams
  `:streamGenerateContent?alt=sse`); publisher `anthropic` (or a bare `claude-…` model): the
  Messages format at `…/publishers/anthropic/models/{m}:rawPredict` / `:streamRawPredict`,
  without `model` in the body and with `anthropic_version: "vertex-2023-10-16"`. The `-`
  project and location are filled by the provider from its config or the stored service
  account (`GoogleVertexAIProvider.located`).
* `aws-bedrock/{modelId}` (`aws-bedrock/us.anthropic.claude-sonnet-4-5-20250929-v1:0`,
  `aws-bedrock/amazon.nova-pro-v1:0`): the Converse format at
  `bedrock-runtime/{region}/model/{modelId, URL-encoded}/converse` (streams `converse-stream`),
  region from `[providers.aws-bedrock] region`, else `DEFAULT_BEDROCK_REGION`.
"""

from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

from aigw.compat.ir import Target
from aigw.errors import InvalidProvider

DEFAULT_AZURE_API_VERSION = "2024-10-21"
DEFAULT_BEDROCK_REGION = "us-east-1"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_VERTEX_BASE = "v1/projects/-/locations/-/publishers"


def _options(registered: Any) -> dict[str, Any]:
    options = getattr(registered, "options", None)
    return options if isinstance(options, dict) else {}


def azure_target(model: str, registered: Any) -> Target:
    """`{resource}/{deployment}` → the deployment's chat completions."""
    resource, _, deployment = model.partition("/")
    if not resource or not deployment or "/" in deployment:
        raise InvalidProvider(f"Invalid provider: an azure-openai model is 'azure-openai/{{resource}}/{{deployment}}', got {model!r}")
    version = _options(registered).get("api_version") or DEFAULT_AZURE_API_VERSION
    return Target(
        "azure-openai", "openai", model, f"{resource}/{deployment}/chat/completions",
        query=f"api-version={quote(str(version), safe='')}", body_model=deployment,
    )  # fmt: skip


def vertex_target(model: str, registered: Any) -> Target:
    """`[{publisher}/]{model}` → Gemini's generate methods, or Anthropic's rawPredict."""
    publisher, _, name = model.partition("/")
    if not name:
        publisher, name = ("anthropic" if model.startswith("claude") else "google"), model
    if publisher not in ("google", "anthropic") or not name or "/" in name:
        raise InvalidProvider(f"Invalid provider: a google-vertex-ai model is 'google-vertex-ai/{{google|anthropic}}/{{model}}', got {model!r}")
    base = f"{_VERTEX_BASE}/{publisher}/models/{name}"
    if publisher == "google":
        return Target(
            "google-vertex-ai", "gemini", name, f"{base}:generateContent",
            stream_endpoint=f"{base}:streamGenerateContent", stream_query="alt=sse",
        )  # fmt: skip
    return Target(
        "google-vertex-ai", "anthropic", name, f"{base}:rawPredict",
        stream_endpoint=f"{base}:streamRawPredict", body_model=None,
        body_fields=(("anthropic_version", VERTEX_ANTHROPIC_VERSION),),
    )  # fmt: skip


def bedrock_target(model: str, registered: Any) -> Target:
    """`{modelId}` (a base id, an inference profile or an ARN) → Converse in the region."""
    region = str(_options(registered).get("region") or DEFAULT_BEDROCK_REGION)
    base = f"bedrock-runtime/{region}/model/{quote(model, safe='')}"
    return Target("aws-bedrock", "bedrock-converse", model, f"{base}/converse", stream_endpoint=f"{base}/converse-stream", body_model=None)


#: Provider slug → the function that makes its Target from the model name.
CLOUD_TARGETS: dict[str, Callable[[str, Any], Target]] = {
    "azure-openai": azure_target,
    "google-vertex-ai": vertex_target,
    "aws-bedrock": bedrock_target,
}
