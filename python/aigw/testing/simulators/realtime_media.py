"""Small realtime simulators for the voice and media vendors (on `websockets`), as far as a
gateway relaying them needs: each checks the provider's auth forms at the upgrade and speaks
the core of its protocol. ``base_url()`` is the root (``ws://127.0.0.1:PORT``): the gateway's
``[providers.<slug>] realtime_url``.

Cartesia TTS (``/tts/websocket``): auth ``X-API-Key`` header or ``api_key`` query, or a browser
``access_token`` query equal to ``access_token`` (knob); a version (``Cartesia-Version`` header or
``cartesia_version`` query) is required (else 400). Message in: ``{"model_id", "transcript",
"voice", "output_format": {"container": "raw", "encoding", "sample_rate"}, "context_id",
"continue"}``; out, per word of the transcript, ``{"type": "chunk", "data": <base64 PCM>,
"done": false, "status_code": 206, "step_time", "context_id"}``, then ``{"type": "done", "done":
true, "status_code": 206, "context_id"}``; ``{"context_id", "cancel": true}`` is acknowledged by
silence; invalid input → ``{"type": "error", "error", "status_code": 400, "done": true}``.

ElevenLabs stream-input TTS (``/v1/text-to-speech/{voice_id}/stream-input``): auth
``xi-api-key`` header (a wrong one: 401), or, with no header, ``xi_api_key`` in the first
message (a missing or wrong one closes with 1008). Messages in: ``{"text": " ",
"voice_settings"?, "xi_api_key"?}`` (the first, opens the stream), ``{"text": "Hello "}``
(buffered), ``{"text": …, "flush": true}`` (generates now), ``{"text": ""}`` (end of input:
generates the rest). Out: ``{"audio": <base64 PCM>, "isFinal": null, "normalizedAlignment":
{"chars", "charStartTimesMs", "charDurationsMs"}}`` per word, and after the end of input
``{"isFinal": true}`` then a 1000 close.

Fal HTTP over WebSocket (``/{model_id}``, ``wss://ws.fal.run``): auth ``Authorization: Key
<key>`` or a ``fal_jwt_token`` query equal to ``jwt`` (knob); else 401 ``{"detail"}``. Each JSON
payload is answered with ``{"type": "start", "request_id", "status": 200, "headers":
{"content-type": "application/json"}}``, the JSON result (``{"images": [{"url", "width",
"height", "content_type"}], "seed", "prompt"}``) and ``{"type": "end", "request_id", "status":
200, "time_to_first_byte_seconds"}``; a payload that is not a JSON object gets ``status: 422``
and a ``{"detail": [...]}`` body between the same start and end.

Audio is silence of 200 ms per word at the requested sample rate (16-bit PCM).
"""

from __future__ import annotations

import base64
import json
import uuid

from aigw.testing.simulators.realtime_server import RealtimeConnection, RealtimeSimulator, UpgradeRecord

__all__ = ["CartesiaTTSSimulator", "ElevenLabsStreamInputSimulator", "FalWebSocketSimulator"]


def pcm_silence(words: int, sample_rate: int) -> bytes:
    """200 ms of 16-bit PCM silence per word."""
    return bytes(words * sample_rate * 2 // 5)


class CartesiaTTSSimulator(RealtimeSimulator):
    """Cartesia's TTS WebSocket (see the module docstring)."""

    name = "cartesia"

    def __init__(self, *, key: str = "sim-cartesia-key", access_token: str = "sim-cartesia-token") -> None:
        self.access_token = access_token
        super().__init__(key=key)

    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        return upgrade.path == "/tts/websocket"

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        return (
            upgrade.headers.get("x-api-key") == self.key
            or upgrade.query.get("api_key") == self.key
            or upgrade.query.get("access_token") == self.access_token
        )

    def refusal(self, upgrade: UpgradeRecord) -> int | None:
        """Cartesia needs a version."""
        return None if upgrade.headers.get("cartesia-version") or upgrade.query.get("cartesia_version") else 400

    def error_response(self, status: int) -> dict:
        message = {400: "Cartesia-Version header or cartesia_version query parameter is required.",
                   401: "Invalid API key.", 404: "Not found.", 429: "Rate limit exceeded."}.get(status, "Internal error.")
        return {"error": message, "status_code": status}

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        try:
            msg = json.loads(message)
            context_id = msg.get("context_id") or str(uuid.uuid4())
        except (ValueError, AttributeError):
            await conn.send_json({"type": "error", "error": "invalid JSON", "status_code": 400, "done": True})
            return
        if msg.get("cancel"):
            return
        transcript, fmt = msg.get("transcript"), msg.get("output_format") or {}
        if not isinstance(transcript, str) or not msg.get("model_id") or not isinstance(fmt, dict):
            await conn.send_json({"type": "error", "context_id": context_id, "status_code": 400, "done": True,
                                  "error": "model_id, transcript and output_format are required"})
            return
        rate = int(fmt.get("sample_rate") or 44100)
        for _ in transcript.split():
            audio = base64.b64encode(pcm_silence(1, rate)).decode()
            await conn.send_json({"type": "chunk", "data": audio, "done": False, "status_code": 206,
                                  "step_time": 1.5, "context_id": context_id})
        await conn.send_json({"type": "done", "done": True, "status_code": 206, "context_id": context_id})


class ElevenLabsStreamInputSimulator(RealtimeSimulator):
    """ElevenLabs' stream-input TTS WebSocket (see the module docstring)."""

    name = "elevenlabs"

    def __init__(self, *, key: str = "sim-elevenlabs-key") -> None:
        super().__init__(key=key)

    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        parts = upgrade.path.strip("/").split("/")
        return len(parts) == 4 and parts[:2] == ["v1", "text-to-speech"] and parts[3] == "stream-input"

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        header = upgrade.headers.get("xi-api-key")
        return header is None or header == self.key  # no header: the first message must carry it

    def error_response(self, status: int) -> dict:
        kinds = {401: ("invalid_api_key", "Invalid API key"), 404: ("not_found", "Not found"),
                 429: ("too_many_concurrent_requests", "Too many concurrent requests")}
        status_text, message = kinds.get(status, ("internal_error", "Internal error"))
        return {"detail": {"status": status_text, "message": message}}

    async def on_connect(self, conn: RealtimeConnection) -> None:
        fmt = conn.upgrade.query.get("output_format", "pcm_16000")
        rate = int(fmt.rsplit("_", 1)[-1]) if fmt.startswith("pcm_") else 16000
        conn.state.update(opened=False, buffer="", rate=rate, header=conn.upgrade.headers.get("xi-api-key") is not None)

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        state = conn.state
        try:
            msg = json.loads(message)
            text = msg["text"]
        except (ValueError, KeyError, TypeError):
            await conn.ws.close(1008, "Invalid message: expected JSON with a text field")
            return
        if not state["opened"]:
            if not state["header"] and msg.get("xi_api_key") != self.key:
                await conn.ws.close(1008, "Invalid API key")
                return
            state["opened"] = True
            return  # the opening message (text " ") carries settings, not speech
        if text == "":
            await self._speak(conn, state["buffer"])
            await conn.send_json({"isFinal": True})
            await conn.ws.close(1000, "")
            return
        state["buffer"] += text
        if msg.get("flush"):
            await self._speak(conn, state["buffer"])
            state["buffer"] = ""

    async def _speak(self, conn: RealtimeConnection, text: str) -> None:
        for word in text.split():
            audio = base64.b64encode(pcm_silence(1, conn.state["rate"])).decode()
            chars = list(word)
            alignment = {"chars": chars, "charStartTimesMs": [i * 40 for i in range(len(chars))],
                         "charDurationsMs": [40] * len(chars)}
            await conn.send_json({"audio": audio, "isFinal": None, "normalizedAlignment": alignment, "alignment": alignment})


class FalWebSocketSimulator(RealtimeSimulator):
    """fal's HTTP over WebSocket (see the module docstring)."""

    name = "fal"

    def __init__(self, *, key: str = "sim-fal-key", jwt: str = "sim-fal-jwt") -> None:
        self.jwt = jwt
        super().__init__(key=key)

    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        return upgrade.path.count("/") >= 2  # /{owner}/{app}[/...]

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        return upgrade.headers.get("authorization") == f"Key {self.key}" or upgrade.query.get("fal_jwt_token") == self.jwt

    def error_response(self, status: int) -> dict:
        return {"detail": {401: "Invalid authorization header", 404: "Application not found",
                           429: "Too many requests"}.get(status, "Internal error")}

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        request_id = str(uuid.uuid4())
        try:
            payload = json.loads(message)
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            status, body = 200, {
                "images": [{"url": f"https://fal.media/files/sim/{request_id}.jpeg", "width": 512, "height": 512,
                            "content_type": "image/jpeg"}],
                "seed": 42, "prompt": str(payload.get("prompt", "")),
            }
        else:
            status, body = 422, {"detail": [{"loc": ["body"], "msg": "Input should be a valid dictionary", "type": "dict_type"}]}
        await conn.send_json({"type": "start", "request_id": request_id, "status": status,
                              "headers": {"content-type": "application/json"}})
        await conn.send_json(body)
        await conn.send_json({"type": "end", "request_id": request_id, "status": status, "time_to_first_byte_seconds": 0.01})
