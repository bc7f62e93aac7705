"""Cartesia: text to speech; a JSON request, an audio answer relayed as bytes.

Cloudflare's form: `cartesia/tts/bytes` (also `tts/sse`, `voices`…) goes to
`https://api.cartesia.ai/tts/bytes`; a leading `v1/` (Cloudflare's docs name the base
`https://api.cartesia.ai/v1`) is dropped, since Cartesia's paths carry no version. Auth
`X-API-Key: <key>` plus `Cartesia-Version` (dated; `2024-06-10` is added when the client sends
none; option `version`). `POST tts/bytes` answers raw audio (`audio/wav`, `audio/mpeg` or raw
PCM per `output_format`), framed RAW: relayed and logged by size and content type. No tokens
are reported (billing is per character of the transcript).
"""

from __future__ import annotations

from typing import Mapping

from aigw.providers import HttpProvider, join_url
from aigw.types import Call

DEFAULT_VERSION = "2024-06-10"


class CartesiaProvider(HttpProvider):
    """api.cartesia.ai."""

    name = "cartesia"
    default_base_url = "https://api.cartesia.ai"
    auth_header = "x-api-key"
    auth_scheme = ""
    stream_terminator = None

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """`X-API-Key`, or a bearer access token (Cartesia's browser tokens)."""
        return bool(headers.get("x-api-key") or headers.get("authorization"))

    def url_for(self, call: Call) -> str:
        """Paths without a version; Cloudflare's `v1/` prefix is dropped."""
        endpoint = call.endpoint.lstrip("/")
        if endpoint.startswith("v1/"):
            endpoint = endpoint[3:]
        return join_url(self.base_url, endpoint, call.query)

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        """Cartesia refuses requests without `Cartesia-Version`: default it."""
        if not any(name == "cartesia-version" for name, _ in headers):
            headers.append(("cartesia-version", self.options.get("version", DEFAULT_VERSION)))
