"""Google Vertex AI as ``{region}-aiplatform.googleapis.com`` serves it, with its OAuth token
endpoint (cloudflare-aigw.md §4, providers.md §4).

* ``POST /v1/projects/{project}/locations/{region}/publishers/google/models/{model}:{method}``:
  Gemini (``generateContent``, ``streamGenerateContent[?alt=sse]``, ``countTokens``), bytes as
  the Gemini simulator sends them;
* ``…/publishers/anthropic/models/{model}:rawPredict`` / ``:streamRawPredict``: the Anthropic
  Messages API, with ``anthropic_version`` required in the body (``vertex-2023-10-16`` in the
  docs; anthropic 2.17's ``AnthropicVertex`` sends its dated API version) and the model taken
  from the path;
* auth: ``Authorization: Bearer <token>``: ``static_token`` (as ``gcloud auth
  print-access-token`` gives) or a token this simulator minted; otherwise 401
  ``UNAUTHENTICATED``;
* ``POST /token`` (a form with ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and
  ``assertion``): the JWT must be RS256-signed by the simulator's service account, ``aud`` this
  URL, with a ``scope``; answers ``{"access_token", "expires_in", "token_type": "Bearer"}``, else
  400 ``{"error": "invalid_grant", "error_description"}``. ``tokens_minted`` counts exchanges;
  ``token_lifetime`` sets ``expires_in``.

``key`` is the service account JSON (what a gateway stores); ``service_account`` the same as a
dict; ``provider_options()`` gives the gateway the ``token_url``.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

from aiohttp import web

from ._core import Call, endpoint
from .anthropic import AnthropicSimulator
from .google import GoogleAIStudioSimulator, google_error

GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
STATIC_TOKEN = "ya29.sim-static-token"
CLIENT_EMAIL = "aigw-sim@sim-project.iam.gserviceaccount.com"


def _new_private_key() -> tuple[str, Any]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return pem, key.public_key()


class GoogleVertexAISimulator(GoogleAIStudioSimulator):
    """aiplatform.googleapis.com (Gemini and Anthropic publishers) plus oauth2's token endpoint."""

    slug = "google-vertex-ai"
    base_path = ""
    default_key = ""

    def __init__(self, **knobs: Any) -> None:
        pem, self.public_key = _new_private_key()
        self.service_account = {
            "type": "service_account",
            "project_id": "sim-project",
            "private_key_id": "sim-key-1",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": "https://oauth2.googleapis.com/token",
        }
        knobs.setdefault("key", json.dumps(self.service_account))
        super().__init__(**knobs)
        self.static_token = STATIC_TOKEN
        self.token_lifetime = 3599
        self._defaults.update(static_token=STATIC_TOKEN, token_lifetime=3599)
        self.minted: set[str] = set()
        self.tokens_minted = 0
        self._token_ids = itertools.count(1)

    def provider_options(self) -> dict[str, Any]:
        """``token_url``: this simulator's token endpoint."""
        return {"token_url": self.url + "/token"}

    def reset(self) -> None:
        """Also forget minted tokens."""
        super().reset()
        self.minted.clear()
        self.tokens_minted = 0

    def routes(self) -> list[web.RouteDef]:
        """Publisher model methods and the token endpoint."""
        models = "/{version:v1|v1beta1}/projects/{project}/locations/{region}/publishers"
        return [
            web.post(models + "/google/models/{target}", self.model_method),
            web.post(models + "/anthropic/models/{target}", self.anthropic_method),
            web.post("/token", self.token),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """A bearer token: the static one or one minted here."""
        token = self.bearer_key(request)
        if token == self.static_token or token in self.minted:
            return None
        message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."
        return web.Response(status=401, text=json.dumps(google_error(401, message)), content_type="application/json")

    @endpoint
    async def anthropic_method(self, call: Call) -> web.StreamResponse:
        """``rawPredict`` / ``streamRawPredict``: Anthropic's Messages API."""
        method = call.request.match_info["target"].rpartition(":")[2]
        if method not in ("rawPredict", "streamRawPredict"):
            return self.error_response(404, f"Method {method} not found.")
        if not isinstance(call.body.get("anthropic_version"), str):
            return self.error_response(400, "anthropic_version: Field required")
        return await AnthropicSimulator.messages.__wrapped__(self, call)  # type: ignore[attr-defined]

    async def token(self, request: web.Request) -> web.StreamResponse:
        """The OAuth 2.0 JWT-bearer grant (RFC 7523)."""
        import jwt

        form = await request.post()
        self._record(request, b"")
        if form.get("grant_type") != GRANT:
            return self._grant_error("unsupported_grant_type", "Invalid grant_type")
        try:
            claims = jwt.decode(str(form.get("assertion", "")), self.public_key, algorithms=["RS256"], audience=self.url + "/token")
        except jwt.PyJWTError as exc:
            return self._grant_error("invalid_grant", f"Invalid JWT: {type(exc).__name__}")
        if claims.get("iss") != CLIENT_EMAIL or not claims.get("scope"):
            return self._grant_error("invalid_scope", "Invalid issuer or missing scope")
        token = f"ya29.sim-minted-{next(self._token_ids)}"
        self.minted.add(token)
        self.tokens_minted += 1
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def _grant_error(self, error: str, description: str) -> web.Response:
        return web.json_response({"error": error, "error_description": description}, status=400)

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The model: the path segment before ``:``."""
        return request.match_info.get("target", "").rpartition(":")[0]



