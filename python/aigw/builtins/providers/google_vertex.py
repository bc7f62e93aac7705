"""Google Vertex AI: Gemini and Anthropic-on-Vertex under `v1/projects/…/locations/{region}/…`.

Cloudflare's form (cloudflare-aigw.md §4):
`google-vertex-ai/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}`
goes to `https://{region}-aiplatform.googleapis.com/v1/projects/…` (location `global`:
`https://aiplatform.googleapis.com`). Gemini methods (`generateContent`,
`streamGenerateContent?alt=sse`, `countTokens`) speak the Gemini wire format (`usageMetadata`);
Anthropic's (`rawPredict`, `streamRawPredict`) the Messages API with `anthropic_version:
"vertex-2023-10-16"` in the body and the model in the path.

Auth: a client `Authorization: Bearer <access token>` (e.g. `gcloud auth print-access-token`)
goes as is. Otherwise the stored key is a service account: its JSON, or Cloudflare's form, the
base64 of that JSON with an added `region` key. The gateway then mints OAuth access tokens
itself (`prepare`, awaited before sending): a JWT signed RS256 with the account's private key
(PyJWT, the `vertex` extra) exchanged at the token URL (option `token_url`, default the
account's `token_uri`), cached per account until five minutes before it expires; concurrent
requests share one exchange.

Project and location may be left to the gateway as `-` (`v1/projects/-/locations/-/…`, what
/compat sends): the project is the option `project`, else the stored service account's
`project_id`; the location the option `region`, else the account's `region` (Cloudflare's
form), else `us-central1` (`located`).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import binascii
import time
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from aigw.builtins.providers.anthropic import anthropic_stream_usage, anthropic_usage
from aigw.builtins.providers.google import gemini_usage, google_error_class
from aigw.errors import BadRequest, ProviderFailed
from aigw.providers import HttpProvider, loads_or_none
from aigw.types import Call, ErrorClass, UpstreamRequest, Usage

DEFAULT_BASE = "https://{region}-aiplatform.googleapis.com"
GLOBAL_BASE = "https://aiplatform.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TOKEN_LIFETIME = 3600  # seconds asked of Google (its maximum)
REFRESH_MARGIN = 300  # a token this close to expiry is replaced
DEFAULT_REGION = "us-central1"  # for a `-` location when neither config nor account names one


def parse_service_account(stored: str) -> dict[str, Any]:
    """A stored service account: JSON, or base64 of JSON (Cloudflare's form, which adds
    `region`). ProviderFailed (a gateway configuration problem) without echoing the secret."""
    text = stored.strip()
    if not text.startswith("{"):
        try:
            text = base64.b64decode(text, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            text = ""
    doc = loads_or_none(text.encode())
    if not (isinstance(doc, dict) and isinstance(doc.get("client_email"), str) and isinstance(doc.get("private_key"), str)):
        raise ProviderFailed("the stored google-vertex-ai key is not a service account JSON (or its base64) with client_email and private_key")
    return doc


class TokenCache:
    """OAuth access tokens minted from service accounts, by (account, token URL)."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[str, str], tuple[str, float]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def token(self, account: Mapping[str, Any], token_url: str, client: Any) -> str:
        """A valid access token for `account`, minting one through `client` (the gateway's
        upstream client) when none is cached or the cached one is about to expire."""
        key = (account["client_email"], token_url)
        cached = self._tokens.get(key)
        if cached is not None and cached[1] - REFRESH_MARGIN > time.time():
            return cached[0]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)
            if cached is not None and cached[1] - REFRESH_MARGIN > time.time():
                return cached[0]
            token, expires_at = await mint_token(account, token_url, client)
            self._tokens[key] = (token, expires_at)
            return token


def signed_assertion(account: Mapping[str, Any], token_url: str, now: float) -> str:
    """The JWT bearer assertion (RFC 7523) for `account`, signed RS256 with its private key."""
    try:
        import jwt
    except ImportError:
        raise ProviderFailed("google-vertex-ai service accounts need PyJWT: pip install 'aigw[vertex]'") from None
    claims = {"iss": account["client_email"], "scope": SCOPE, "aud": token_url, "iat": int(now), "exp": int(now) + TOKEN_LIFETIME}
    headers = {"kid": account["private_key_id"]} if isinstance(account.get("private_key_id"), str) else None
    try:
        return jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)
    except (ValueError, TypeError, jwt.PyJWTError):
        raise ProviderFailed("the stored google-vertex-ai service account has an unusable private_key") from None


async def mint_token(account: Mapping[str, Any], token_url: str, client: Any) -> tuple[str, float]:
    """Exchange a signed assertion for an access token: (token, expiry as unix time)."""
    now = time.time()
    form = urlencode({"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": signed_assertion(account, token_url, now)}).encode()
    headers = [("content-type", "application/x-www-form-urlencoded"), ("accept", "application/json")]
    resp = await client.request("POST", token_url, headers, form)
    try:
        body = await resp.read()
    finally:
        resp.close()
    doc = loads_or_none(body)
    if resp.status != 200 or not isinstance(doc, dict) or not isinstance(doc.get("access_token"), str):
        reason = doc.get("error") if isinstance(doc, dict) and isinstance(doc.get("error"), str) else f"status {resp.status}"
        raise ProviderFailed(f"google-vertex-ai token exchange failed ({reason})")
    lifetime = doc.get("expires_in")
    lifetime = lifetime if isinstance(lifetime, (int, float)) and not isinstance(lifetime, bool) else TOKEN_LIFETIME
    return doc["access_token"], now + float(lifetime)


class GoogleVertexAIProvider(HttpProvider):
    """Vertex AI in any region. Config: `base_url` (may contain `{region}`), `token_url`."""

    name = "google-vertex-ai"
    default_base_url = DEFAULT_BASE
    stream_terminator = None
    usage_events = (1, 2)

    def __init__(self, name: str | None = None, base_url: str | None = None, **options: Any) -> None:
        super().__init__(name, base_url, **options)
        self.custom_base = base_url is not None
        self.tokens = TokenCache()

    def url_for(self, call: Call) -> str:
        """`v1/projects/{p}/locations/{region}/…` under the region's host."""
        path = call.endpoint.lstrip("/")
        parts = path.split("/")
        if len(parts) < 6 or parts[0] not in ("v1", "v1beta1") or parts[1] != "projects" or parts[3] != "locations" or not parts[4]:
            raise BadRequest("google-vertex-ai endpoints are v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{model}:{method}")
        region = parts[4]
        if region == "global" and not self.custom_base:
            base = GLOBAL_BASE
        else:
            base = self.base_url.replace("{region}", region)
        return f"{base}/{path}?{call.query}" if call.query else f"{base}/{path}"

    def located(self, call: Call, account: Mapping[str, Any] | None) -> Call:
        """`call` with a `-` project or location filled in (see the module docstring).
        BadRequest when a `-` project has no value anywhere."""
        parts = call.endpoint.lstrip("/").split("/", 5)
        if len(parts) < 6 or parts[1] != "projects" or parts[3] != "locations" or "-" not in (parts[2], parts[4]):
            return call
        account = account or {}
        if parts[2] == "-":
            project = self.options.get("project") or account.get("project_id")
            if not isinstance(project, str) or not project:
                raise BadRequest("google-vertex-ai: no project to use: set [providers.google-vertex-ai] project or store a service account with project_id")
            parts[2] = project
        if parts[4] == "-":
            region = self.options.get("region") or account.get("region") or DEFAULT_REGION
            parts[4] = str(region)
        return dataclasses.replace(call, endpoint="/".join(parts))

    def build_request(self, call: Call, key: str | None) -> UpstreamRequest:
        """The client's bearer token is forwarded; with a stored service account the token is
        added by `prepare` (minting needs I/O). A malformed stored account fails here."""
        account = parse_service_account(key) if key is not None else None
        return super().build_request(self.located(call, account), None)

    async def prepare(self, request: UpstreamRequest, call: Call, key: str | None, client: Any) -> UpstreamRequest:
        """With a stored service account: add `Authorization: Bearer <minted token>`."""
        if key is None:
            return request
        account = parse_service_account(key)
        token_url = self.options.get("token_url") or account.get("token_uri") or DEFAULT_TOKEN_URL
        token = await self.tokens.token(account, token_url, client)
        headers = [(n, v) for n, v in request.headers if n != "authorization"]
        headers.append(("authorization", f"Bearer {token}"))
        return UpstreamRequest(request.method, request.url, headers, request.body)

    def usage_from_body(self, body: bytes) -> Usage | None:
        """Gemini `usageMetadata`, or the Anthropic message's `usage` (rawPredict)."""
        doc = loads_or_none(body)
        if isinstance(doc, list) and doc:
            doc = doc[-1]
        if not isinstance(doc, dict):
            return None
        return gemini_usage(doc.get("usageMetadata")) or anthropic_usage(doc.get("usage"))

    def usage_from_events(self, first: Sequence[bytes], last: Sequence[bytes]) -> Usage | None:
        """Gemini: the last chunk's `usageMetadata`; Anthropic: message_start + message_delta."""
        for data in reversed(last):
            doc = loads_or_none(data)
            if isinstance(doc, dict) and "usageMetadata" in doc:
                return gemini_usage(doc["usageMetadata"])
        return anthropic_stream_usage((*first, *last))

    def classify_error(self, status: int, headers: Mapping[str, str], body: bytes) -> ErrorClass:
        """Google's verdict (RetryInfo on 429)."""
        return google_error_class(status, headers, body)


__all__ = ["GoogleVertexAIProvider", "TokenCache", "mint_token", "parse_service_account"]
