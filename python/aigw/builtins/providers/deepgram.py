"""Deepgram: pre-recorded speech to text (`listen`, a binary audio body) and text to speech
(`speak`, an audio answer); `Authorization: Token <key>`.

Cloudflare's form: `deepgram/v1/listen?model=nova-3&smart_format=true` goes to
`https://api.deepgram.com/v1/listen?…`; the body is the audio itself (`Content-Type:
audio/wav`…) or `{"url": …}`, answered with JSON (`results.channels[].alternatives[]
.transcript`, `metadata.duration`). `v1/speak?model=aura-2-…` takes `{"text": …}` and answers
audio (RAW). Binary bodies pass through untouched and are logged by size and content type.
Billing is per audio second, so no tokens are reported.
"""

from __future__ import annotations

from aigw.providers import HttpProvider


class DeepgramProvider(HttpProvider):
    """api.deepgram.com."""

    name = "deepgram"
    default_base_url = "https://api.deepgram.com"
    auth_scheme = "Token "
    stream_terminator = None
