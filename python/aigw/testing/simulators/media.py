"""Voice and image providers: Cartesia, ElevenLabs, Deepgram, fal and Ideogram (providers.md §12,
cloudflare-aigw.md §4). Audio is a deterministic fake (a WAV or MPEG header and silence whose
length follows the text), so tests can check that bytes pass through unchanged.

| Simulator | base URL | paths | auth | errors |
|---|---|---|---|---|
| ``CartesiaSimulator`` | ``ROOT`` | ``POST /tts/bytes`` (JSON → ``audio/wav``, ``audio/mpeg`` or raw PCM) | ``X-API-Key`` + ``Cartesia-Version`` (400 without) | ``{"error", "message"}`` (assumed) |
| ``ElevenLabsSimulator`` | ``ROOT`` | ``POST /v1/text-to-speech/{voice_id}`` and ``…/stream`` (chunked ``audio/mpeg``) | ``xi-api-key`` | ``{"detail": {"status", "message"}}`` |
| ``DeepgramSimulator`` | ``ROOT`` | ``POST /v1/listen`` (a binary audio body, or ``{"url"}``) → transcript JSON; ``POST /v1/speak`` (``{"text"}``) → ``audio/mpeg`` | ``Authorization: Token`` (or ``Bearer``) | ``{"err_code", "err_msg", "request_id"}`` |
| ``FalSimulator`` | ``ROOT`` | ``POST /{owner}/{model}`` (sync run); queue: ``POST /queue/{owner}/{model}``, ``GET …/requests/{id}/status`` (``IN_QUEUE`` → ``IN_PROGRESS`` → ``COMPLETED``), ``GET …/requests/{id}`` | ``Authorization: Key`` | ``{"detail"}`` |
| ``IdeogramSimulator`` | ``ROOT`` | ``POST /v1/ideogram-v3/generate`` (multipart form, field ``prompt``) | ``Api-Key`` | ``{"error"}`` |

Deepgram's "transcription" of an audio body that starts with ``SIMTEXT:`` is the text after it;
any other audio gets ``"<n> bytes of audio"``.
"""

from __future__ import annotations

import struct
from email.parser import BytesParser
from typing import Any

from aiohttp import web

from ._core import Call, Frame, Simulator, endpoint


def fake_audio(text: str, container: str = "wav") -> bytes:
    """A short deterministic audio file for `text`: 160 bytes of silence per character."""
    samples = b"\x00\x00" * 80 * max(len(text), 1)
    if container == "mp3":
        return b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + samples
    if container == "raw":
        return samples
    header = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    return header + b"data" + struct.pack("<I", len(samples)) + samples


def multipart_fields(content_type: str, body: bytes) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (parsed with the stdlib's MIME parser)."""
    message = BytesParser().parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
    fields: dict[str, str] = {}
    if message.is_multipart():
        for part in message.get_payload():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes):
                fields[name] = payload.decode("utf-8", "replace")
    return fields


class _MediaSimulator(Simulator):
    """Shared: binary answers honour ``latency`` and the fail triggers via ``endpoint``."""

    async def send_audio(self, call: Call, audio: bytes, content_type: str) -> web.StreamResponse:
        """One whole audio answer."""
        await self._first_byte_wait()
        return web.Response(body=audio, headers={**self.response_headers(call), "Content-Type": content_type})


class CartesiaSimulator(_MediaSimulator):
    """api.cartesia.ai: ``/tts/bytes``."""

    slug = "cartesia"
    default_key = "sk_car_sim"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """``POST /tts/bytes``."""
        return [web.post("/tts/bytes", self.tts_bytes)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``X-API-Key`` and a ``Cartesia-Version``."""
        if request.headers.get("X-API-Key") != self.key:
            return self.error_response(401, "Invalid API key")
        if "Cartesia-Version" not in request.headers:
            return self.error_response(400, "Cartesia-Version header is required")
        return None

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error", "message"}`` (assumed shape)."""
        return {"error": "bad_request" if status < 500 else "internal_error", "message": message}, {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``model_id``."""
        return str(body.get("model_id", ""))

    @endpoint
    async def tts_bytes(self, call: Call) -> web.StreamResponse:
        """The transcript as audio in the requested container."""
        fmt = call.body.get("output_format") if isinstance(call.body.get("output_format"), dict) else {}
        container = fmt.get("container", "wav")
        types = {"wav": "audio/wav", "mp3": "audio/mpeg", "raw": "application/octet-stream"}
        if container not in types:
            return self.error_response(400, f"unsupported container {container!r}")
        return await self.send_audio(call, fake_audio(str(call.body.get("transcript", "")), container), types[container])


class ElevenLabsSimulator(_MediaSimulator):
    """api.elevenlabs.io: text to speech, whole or streamed."""

    slug = "elevenlabs"
    default_key = "sk_sim_elevenlabs"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """``/v1/text-to-speech/{voice_id}`` and ``…/stream``."""
        return [
            web.post("/v1/text-to-speech/{voice_id}", self.tts),
            web.post("/v1/text-to-speech/{voice_id}/stream", self.tts_stream),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``xi-api-key``."""
        if request.headers.get("xi-api-key") == self.key:
            return None
        return self.error_response(401, "Invalid API key")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"detail": {"status", "message"}}``."""
        kind = {401: "invalid_api_key", 429: "too_many_concurrent_requests"}.get(status, "error")
        return {"detail": {"status": kind, "message": message}}, {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``model_id``."""
        return str(body.get("model_id", ""))

    @endpoint
    async def tts(self, call: Call) -> web.StreamResponse:
        """The whole MP3."""
        return await self.send_audio(call, fake_audio(str(call.body.get("text", "")), "mp3"), "audio/mpeg")

    @endpoint
    async def tts_stream(self, call: Call) -> web.StreamResponse:
        """The MP3 in ``chunks`` pieces (chunked transfer)."""
        audio = fake_audio(str(call.body.get("text", "")), "mp3")
        size = -(-len(audio) // max(self.chunks, 1))
        frames: list[Frame] = [(audio[i : i + size], True) for i in range(0, len(audio), size)]
        return await self.send_stream(call, frames, content_type="audio/mpeg")


class DeepgramSimulator(_MediaSimulator):
    """api.deepgram.com: ``/v1/listen`` and ``/v1/speak``."""

    slug = "deepgram"
    default_key = "sim-deepgram-key"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """Pre-recorded transcription and text to speech."""
        return [web.post("/v1/listen", self.listen), web.post("/v1/speak", self.speak)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Token <key>`` (or ``Bearer`` for temporary tokens)."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("token", "bearer") and token.strip() == self.key:
            return None
        return self.error_response(401, "Invalid credentials.")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"err_code", "err_msg", "request_id"}``."""
        code = {401: "INVALID_AUTH", 400: "Bad Request", 429: "TOO_MANY_REQUESTS"}.get(status, "INTERNAL_SERVER_ERROR")
        return {"err_code": code, "err_msg": message, "request_id": "sim-request"}, {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``?model=``."""
        return request.query.get("model", "")

    @endpoint
    async def listen(self, call: Call) -> web.StreamResponse:
        """A transcript of the audio body (see the module docstring)."""
        audio = b"" if call.body else await call.request.read()
        if call.body:
            transcript = "audio from url" if isinstance(call.body.get("url"), str) else ""
        elif audio.startswith(b"SIMTEXT:"):
            transcript = audio[8:].decode("utf-8", "replace")
        else:
            transcript = f"{len(audio)} bytes of audio"
        if not transcript:
            return self.error_response(400, "Bad Request: failed to process audio: corrupt or unsupported data")
        duration = round(len(audio) / 32000, 3)
        alternative = {"transcript": transcript, "confidence": 0.99, "words": [{"word": w, "start": 0.0, "end": 0.1, "confidence": 0.99} for w in transcript.split()]}
        body = {
            "metadata": {"request_id": f"req-{call.id}", "duration": duration, "channels": 1, "models": [call.model or "nova-3"]},
            "results": {"channels": [{"alternatives": [alternative]}]},
        }
        return await self.send_json(call, body)

    @endpoint
    async def speak(self, call: Call) -> web.StreamResponse:
        """``{"text"}`` as MP3."""
        return await self.send_audio(call, fake_audio(str(call.body.get("text", "")), "mp3"), "audio/mpeg")


class FalSimulator(_MediaSimulator):
    """fal.run (sync runs) and queue.fal.run (under ``/queue``)."""

    slug = "fal"
    default_key = "sim-fal-key"
    base_path = ""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.queue: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Also empty the queue."""
        super().reset()
        self.queue.clear()

    def routes(self) -> list[web.RouteDef]:
        """Sync runs, queue submit, status and result."""
        return [
            web.post("/queue/{owner}/{model}", self.submit),
            web.get("/queue/{owner}/{model}/requests/{id}/status", self.status),
            web.get("/queue/{owner}/{model}/requests/{id}", self.result),
            web.post("/{owner}/{model}", self.run),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Authorization: Key <key>``."""
        if request.headers.get("Authorization") == f"Key {self.key}":
            return None
        return self.error_response(401, "Unauthorized")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"detail"}``."""
        return {"detail": message}, {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``owner/model`` from the path."""
        return f"{request.match_info.get('owner', '')}/{request.match_info.get('model', '')}"

    def _output(self, prompt: str) -> dict[str, Any]:
        image = {"url": f"{self.url}/files/sim.png", "width": 1024, "height": 1024, "content_type": "image/png"}
        return {"images": [image], "seed": 42, "prompt": prompt, "has_nsfw_concepts": [False], "timings": {"inference": 0.1}}

    @endpoint
    async def run(self, call: Call) -> web.StreamResponse:
        """A synchronous run."""
        return await self.send_json(call, self._output(str(call.body.get("prompt", ""))))

    @endpoint
    async def submit(self, call: Call) -> web.StreamResponse:
        """Queue a request."""
        rid = f"req-{call.id}"
        base = f"{self.url}/queue/{call.model}/requests/{rid}"
        self.queue[rid] = {"status": "IN_QUEUE", "prompt": str(call.body.get("prompt", ""))}
        body = {"request_id": rid, "status": "IN_QUEUE", "status_url": base + "/status", "response_url": base, "cancel_url": base + "/cancel", "queue_position": 0}
        return await self.send_json(call, body)

    @endpoint
    async def status(self, call: Call) -> web.StreamResponse:
        """``IN_QUEUE`` → ``IN_PROGRESS`` → ``COMPLETED``, one step per poll."""
        entry = self.queue.get(call.request.match_info["id"])
        if entry is None:
            return self.error_response(404, "Request not found")
        entry["status"] = {"IN_QUEUE": "IN_PROGRESS", "IN_PROGRESS": "COMPLETED"}.get(entry["status"], "COMPLETED")
        return await self.send_json(call, {"status": entry["status"], "request_id": call.request.match_info["id"], "logs": None})

    @endpoint
    async def result(self, call: Call) -> web.StreamResponse:
        """The output once completed (400 before)."""
        entry = self.queue.get(call.request.match_info["id"])
        if entry is None:
            return self.error_response(404, "Request not found")
        if entry["status"] != "COMPLETED":
            return self.error_response(400, "Request is still in progress")
        return await self.send_json(call, self._output(entry["prompt"]))


class IdeogramSimulator(_MediaSimulator):
    """api.ideogram.ai: v3 generate (multipart)."""

    slug = "ideogram"
    default_key = "sim-ideogram-key"
    base_path = ""

    def routes(self) -> list[web.RouteDef]:
        """``POST /v1/ideogram-v3/generate``."""
        return [web.post("/v1/ideogram-v3/generate", self.generate)]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Api-Key``."""
        if request.headers.get("Api-Key") == self.key:
            return None
        return self.error_response(401, "Unauthorized")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"error"}``."""
        return {"error": message}, {}

    @endpoint
    async def generate(self, call: Call) -> web.StreamResponse:
        """One image for the form's ``prompt`` (422 without one)."""
        form = multipart_fields(call.request.headers.get("Content-Type", ""), await call.request.read())
        prompt = form.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return self.error_response(422, "prompt is required")
        image = {"url": f"{self.url}/files/sim.png", "prompt": prompt, "resolution": "1024x1024", "seed": 42, "is_image_safe": True, "style_type": "GENERAL"}
        return await self.send_json(call, {"created": "2025-01-01T00:00:00Z", "data": [image]})
