"""fal: image, video and audio generation at `fal.run/{model path}`, or any fal URL named by
`x-fal-target-url` (the queue); `Authorization: Key <key>`.

Cloudflare's form (cloudflare-aigw.md §4): `fal/fal-ai/fast-sdxl` goes to
`https://fal.run/fal-ai/fast-sdxl` (a synchronous run: JSON in, JSON with media URLs out). A
request carrying `x-fal-target-url: https://queue.fal.run/fal-ai/fast-sdxl` goes to that URL
instead (queue submit → `{"request_id", "status_url", "response_url"}`; then status polling at
`…/requests/{id}/status` and the result at `…/requests/{id}`). The header is not forwarded. So
that the gateway never becomes an open proxy, a target must be https on fal's hosts (`fal.run`,
`*.fal.run`, `*.fal.ai`, `*.fal.media`) or under the configured `base_url` (simulators).
Billing is per request or per second of GPU: no tokens.

Realtime (docs/realtime.md): `fal/fal-ai/fast-lcm-diffusion` (Cloudflare's form) goes to fal's
HTTP-over-WebSocket at `wss://ws.fal.run/fal-ai/fast-lcm-diffusion` (a JSON payload in; `start`,
the answer, `end` out); a path ending in `/realtime` reaches fal's msgpack realtime apps the
same way. The key: `Authorization: Key …`, the browser subprotocol `fal-api-key.<KEY>` (moved into
the header, never echoed nor sent upstream), a `fal_jwt_token` query (left in the URL) or the stored key.
"""

from __future__ import annotations

from typing import Mapping, Sequence
from urllib.parse import urlsplit

from aigw.builtins.providers.realtime import RealtimeEndpoint
from aigw.errors import BadRequest
from aigw.providers import HttpProvider
from aigw.types import Call

TARGET_HEADER = "x-fal-target-url"
_FAL_DOMAINS = (".fal.run", ".fal.ai", ".fal.media")


class FalProvider(RealtimeEndpoint, HttpProvider):
    """fal.run, and fal's other hosts through `x-fal-target-url`."""

    name = "fal"
    default_base_url = "https://fal.run"
    default_realtime_url = "wss://ws.fal.run"
    auth_scheme = "Key "
    stream_terminator = None
    realtime_key_subprotocols = ("fal-api-key.",)
    realtime_token_queries = ("fal_jwt_token",)

    def realtime_model_for(self, path: str, query: Sequence[tuple[str, str]]) -> str | None:
        """The model is the path (`fal-ai/fast-lcm-diffusion`), minus a trailing `/realtime`."""
        return path.strip("/").removesuffix("/realtime") or None

    def has_client_auth(self, headers: Mapping[str, str]) -> bool:
        """`Authorization: Key …`."""
        return bool(headers.get("authorization"))

    def allowed_target(self, url: str) -> bool:
        """Whether `url` is a fal URL the gateway may send a request to."""
        if url.startswith(self.base_url + "/"):
            return True
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme == "https" and not parts.username and (host == "fal.run" or host.endswith(_FAL_DOMAINS))

    def url_for(self, call: Call) -> str:
        """`x-fal-target-url` when given (checked), else base_url/{model path}."""
        target = call.headers.get(TARGET_HEADER)
        if target:
            if not self.allowed_target(target):
                raise BadRequest(f"{TARGET_HEADER} must be an https URL on a fal host")
            return target
        return super().url_for(call)

    def build_request(self, call: Call, key: str | None):
        """As the base, without the target header itself."""
        request = super().build_request(call, key)
        request.headers = [(n, v) for n, v in request.headers if n != TARGET_HEADER]
        return request
