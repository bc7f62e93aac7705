"""Cartesia: text to speech; a JSON request, an audio answer relayed as bytes.

Cloudflare's form: `cartesia/tts/bytes` (also `tts/sse`, `voices`…) goes to
`https://api.cartesia.ai/tts/bytes`; a leading `v1/` (Cloudflare's docs name the base
`https://api.cartesia.ai/v1`) is dropped, since Cartesia's paths carry no version. Auth
`X-API-Key: <key>` plus `Cartesia-Version` (dated; `2024-06-10` is added when the client sends
none; option `version`). `POST tts/bytes` answers raw audio (`audio/wav`, `audio/mpeg` or raw
PCM per `output_format`), framed RAW: relayed and logged by size and content type. No tokens
are reported (billing is per character of the transcript).

Realtime (docs/realtime.md): `cartesia?cartesia_version=2024-06-10&api_key=<KEY>` (Cloudflare's
form) goes to `wss://api.cartesia.ai/tts/websocket?cartesia_version=…`; another path (`stt/websocket`)
is kept, a leading `v1/` dropped. The key: `X-API-Key` header, `api_key` query (moved into the
header), an `access_token` query (Cartesia's browser token, left in the URL) or the stored key. A
`Cartesia-Version` header is added unless the client gave one (header or `cartesia_version`).
"""

from __future__ import annotations

from typing import Mapping
from urllib.parse import parse_qsl

from aigw.builtins.providers.realtime import RealtimeEndpoint, RealtimeRequest
from aigw.providers import HttpProvider, join_url
from aigw.types import Call

DEFAULT_VERSION = "2024-06-10"


def _without_version(path: str) -> str:
    path = path.lstrip("/")
    return path[3:] if path.startswith("v1/") else path


class CartesiaProvider(RealtimeEndpoint, HttpProvider):
    """api.cartesia.ai."""

    name = "cartesia"
    default_base_url = "https://api.cartesia.ai"
    auth_header = "x-api-key"
    auth_scheme = ""
    stream_terminator = None
    realtime_path = "tts/websocket"
    realtime_key_queries = ("api_key",)
    realtime_token_queries = ("access_token",)
    realtime_model_query = None  # each message names its model_id

    def realtime_path_for(self, request: RealtimeRequest) -> str:
        """Cartesia's paths carry no version: Cloudflare's `v1/` prefix is dropped."""
        return _without_version(request.rest) or self.realtime_path

    def realtime_headers(self, request: RealtimeRequest, headers: list[tuple[str, str]]) -> None:
        """Cartesia refuses a session without a version: default it unless the client set one."""
        if any(name == "cartesia-version" for name, _ in headers):
            return
        if request.query and any(k == "cartesia_version" for k, _ in parse_qsl(request.query)):
            return
        headers.append(("cartesia-version", self.options.get("version", DEFAULT_VERSION)))

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """`X-API-Key`, or a bearer access token (Cartesia's browser tokens)."""
        return bool(headers.get("x-api-key") or headers.get("authorization"))

    def url_for(self, call: Call) -> str:
        """Paths without a version; Cloudflare's `v1/` prefix is dropped."""
        return join_url(self.base_url, _without_version(call.endpoint), call.query)

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        """Cartesia refuses requests without `Cartesia-Version`: default it."""
        if not any(name == "cartesia-version" for name, _ in headers):
            headers.append(("cartesia-version", self.options.get("version", DEFAULT_VERSION)))
