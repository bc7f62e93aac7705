"""ElevenLabs: text to speech (whole or streamed audio), speech to text; `xi-api-key`.

Cloudflare's form: `elevenlabs/v1/text-to-speech/{voice_id}?output_format=mp3_44100_128` goes
to `https://api.elevenlabs.io/v1/text-to-speech/{voice_id}?…` (also `…/{voice_id}/stream`,
whose chunked `audio/mpeg` answer is relayed as it arrives). Audio answers are framed RAW:
relayed and logged by size and content type. Errors are `{"detail": {"status", "message"}}`;
no tokens are reported (billing is per character).
"""

from __future__ import annotations

from aigw.providers import HttpProvider


class ElevenLabsProvider(HttpProvider):
    """api.elevenlabs.io."""

    name = "elevenlabs"
    default_base_url = "https://api.elevenlabs.io"
    auth_header = "xi-api-key"
    auth_scheme = ""
    stream_terminator = None
