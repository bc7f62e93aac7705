"""Baseten: the OpenAI-compatible Model APIs, and dedicated model deployments.

Cloudflare's two forms (cloudflare-aigw.md §4): `baseten/v1/chat/completions` goes to the Model
APIs (OpenAI wire format, usage as OpenAI's), and `baseten/model/{model_id}[/{environment}]`
goes to a deployment's own host, `https://model-{model_id}.api.baseten.co/{environment}/predict`
(environment `production` by default), whose body is whatever the model takes. Auth
`Authorization: Bearer <key>` for a stored key (Baseten also accepts `Api-Key <key>`, forwarded
as sent by a client).

Both `baseten/v1/chat/completions` (Cloudflare's curl) and `baseten/chat/completions` (an OpenAI
SDK with the gateway as base URL) reach the Model APIs.

Config: `base_url` (Model APIs, default `https://inference.baseten.co/v1`) and `deployment_url`
(default `https://model-{model_id}.api.baseten.co`).
"""

from __future__ import annotations

from aigw.builtins.providers.openai import OpenAICompatibleProvider
from aigw.errors import BadRequest
from aigw.providers import join_url
from aigw.types import Call

MODEL_BASE = "https://model-{model_id}.api.baseten.co"


class BasetenProvider(OpenAICompatibleProvider):
    """Model APIs (OpenAI-compatible) and `model/{id}` deployments."""

    name = "baseten"
    default_base_url = "https://inference.baseten.co/v1"

    def url_for(self, call: Call) -> str:
        """`model/{id}[/{environment}]` → the deployment's predict URL; anything else under
        the Model APIs base (`v1/chat/completions`)."""
        endpoint = call.endpoint.lstrip("/")
        if endpoint == "model" or endpoint.startswith("model/"):
            parts = endpoint.split("/")
            if len(parts) not in (2, 3) or not parts[1].isalnum():
                raise BadRequest("baseten deployment endpoints are model/{model_id}[/{environment}]")
            environment = parts[2] if len(parts) == 3 else "production"
            base = self.options.get("deployment_url", MODEL_BASE).replace("{model_id}", parts[1])
            return join_url(base, f"{environment}/predict", call.query)
        return join_url(self.base_url, endpoint, call.query)
