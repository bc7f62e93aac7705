"""Deepgram: pre-recorded speech to text (`listen`, a binary audio body) and text to speech
(`speak`, an audio answer); `Authorization: Token <key>`.

Cloudflare's form: `deepgram/v1/listen?model=nova-3&smart_format=true` goes to
`https://api.deepgram.com/v1/listen?…`; the body is the audio itself (`Content-Type:
audio/wav`…) or `{"url": …}`, answered with JSON (`results.channels[].alternatives[]
.transcript`, `metadata.duration`). `v1/speak?model=aura-2-…` takes `{"text": …}` and answers
audio (RAW). Binary bodies pass through untouched and are logged by size and content type.
Billing is per audio second, so no tokens are reported.

Realtime (docs/realtime.md): `deepgram/v1/listen?model=nova-3&encoding=linear16&sample_rate=16000`
(what the Deepgram SDK appends to its base; `deepgram` alone is `v1/listen`) goes to
`wss://api.deepgram.com/v1/listen?…`; `v1/speak` (TTS), `v2/listen` (Flux) likewise. Binary audio
in, JSON `Results` out. The key: `Authorization: Token …` (or `Bearer <JWT>`) header, the browser
subprotocol pair `token`, `<KEY>` (or `bearer`, `<JWT>`) as Deepgram's own JS SDK offers it, or
`token.<KEY>`: the key moves into the header and only the marker (`token`) may be selected for the
client. Otherwise the stored key.
"""

from __future__ import annotations

from aigw.builtins.providers.realtime import RealtimeEndpoint
from aigw.providers import HttpProvider


class DeepgramProvider(RealtimeEndpoint, HttpProvider):
    """api.deepgram.com."""

    name = "deepgram"
    default_base_url = "https://api.deepgram.com"
    auth_scheme = "Token "
    stream_terminator = None
    realtime_path = "v1/listen"
    realtime_key_subprotocols = ("token.",)
    realtime_key_subprotocol_pairs = {"token": "Token ", "bearer": "Bearer "}
