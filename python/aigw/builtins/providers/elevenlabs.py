"""ElevenLabs: text to speech (whole or streamed audio), speech to text; `xi-api-key`.

Cloudflare's form: `elevenlabs/v1/text-to-speech/{voice_id}?output_format=mp3_44100_128` goes
to `https://api.elevenlabs.io/v1/text-to-speech/{voice_id}?…` (also `…/{voice_id}/stream`,
whose chunked `audio/mpeg` answer is relayed as it arrives). Audio answers are framed RAW:
relayed and logged by size and content type. Errors are `{"detail": {"status", "message"}}`;
no tokens are reported (billing is per character).

Realtime (docs/realtime.md): `elevenlabs?agent_id=<AGENT_ID>` (Cloudflare's form: Conversational
AI) goes to `wss://api.elevenlabs.io/v1/convai/conversation?agent_id=…`; any other path is kept,
e.g. `v1/text-to-speech/{voice_id}/stream-input?model_id=…` (streamed TTS). The key: `xi-api-key`
header, the browser subprotocol `xi-api-key.<KEY>` (moved into the header, never echoed nor sent
upstream), a signed URL's `conversation_signature` (left in the URL) or the stored key. On
stream-input paths the key may also come inside the first message (`xi_api_key`, ElevenLabs'
documented form): with no key in the upgrade and none stored, that session is opened keyless
and the message relayed untouched, so ElevenLabs checks the key it carries.
"""

from __future__ import annotations

from aigw.builtins.providers.realtime import RealtimeEndpoint, RealtimeRequest
from aigw.providers import HttpProvider


class ElevenLabsProvider(RealtimeEndpoint, HttpProvider):
    """api.elevenlabs.io."""

    name = "elevenlabs"
    default_base_url = "https://api.elevenlabs.io"
    auth_header = "xi-api-key"
    auth_scheme = ""
    stream_terminator = None
    realtime_path = "v1/convai/conversation"
    realtime_key_subprotocols = ("xi-api-key.",)
    realtime_token_queries = ("conversation_signature",)
    realtime_model_query = "model_id"

    def realtime_key_in_messages(self, request: RealtimeRequest) -> bool:
        """stream-input and multi-stream-input accept `xi_api_key` in their first message."""
        return (request.rest or "").rstrip("/").endswith(("/stream-input", "/multi-stream-input"))
