"""Deepgram's streaming text to speech (``/v1/speak``; Workers AI ``@cf/deepgram/aura-*``), the
half of `DeepgramLiveSimulator` that turns JSON text into binary audio.

Wire format (Deepgram's TTS WebSocket, v1):

* query: ``model`` (``aura-2-thalia-en`` default; Workers AI names the model in the path),
  ``encoding`` (``linear16`` default, ``mulaw``, ``alaw``; anything else is a 400
  ``UNSUPPORTED_ENCODING`` at the handshake), ``sample_rate`` (24000 for linear16, 8000 for the
  G.711 encodings);
* on connect the server sends ``{"type": "Metadata", "request_id", "model_name",
  "model_version", "model_uuid"}``;
* ``{"type": "Speak", "text": "..."}`` appends to the text buffer (more than 2000 characters in
  one message: a ``Warning``, the text dropped); nothing is spoken until a flush;
* ``{"type": "Flush"}`` speaks the buffer: binary audio frames (``audio_per_char`` seconds of
  audio per character, cut into frames of at most ``frame_bytes``), then ``{"type": "Flushed",
  "sequence_id": N}`` (N counts flushes from 0);
* ``{"type": "Clear"}`` drops the buffered text and answers ``{"type": "Cleared",
  "sequence_id": N}`` (the sequence of the last flush);
* ``{"type": "Close"}`` speaks what is buffered, then closes with 1000;
* any other text, or binary, is answered with ``{"type": "Warning", "description", "code"}``.

The audio is deterministic: byte ``i`` of a flush is ``i % 251`` (so tests can check that
nothing was lost or reordered on the way).
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aigw.testing.simulators.realtime_server import RealtimeConnection, UpgradeRecord

__all__ = ["MAX_SPEAK_CHARS", "SpeakStream", "audio_bytes", "is_speak_path"]

MAX_SPEAK_CHARS = 2000
_BYTES_PER_SAMPLE = {"linear16": 2, "mulaw": 1, "alaw": 1}
_DEFAULT_RATE = {"linear16": 24000, "mulaw": 8000, "alaw": 8000}
MODEL_VERSION = "2025-04-07.0"


def is_speak_path(path: str, workers_ai: bool) -> bool:
    """Whether an upgrade's path is text to speech: ``/v1/speak``, or a Workers AI Aura model."""
    if workers_ai:
        return "/run/@cf/deepgram/aura" in path
    return path.rstrip("/") == "/v1/speak"


def speak_refusal(upgrade: UpgradeRecord) -> int | None:
    """400 for an encoding this simulator cannot produce."""
    return None if upgrade.query.get("encoding", "linear16") in _BYTES_PER_SAMPLE else 400


def audio_bytes(text: str, *, encoding: str = "linear16", sample_rate: int | None = None, audio_per_char: float = 0.01) -> int:
    """How many bytes of audio the simulator produces for `text` (what a test expects)."""
    rate = sample_rate or _DEFAULT_RATE[encoding]
    return round(len(text) * audio_per_char * rate) * _BYTES_PER_SAMPLE[encoding]


class SpeakStream:
    """One speak connection's state and messages (the simulator owns the socket)."""

    def __init__(self, conn: RealtimeConnection, model: str, *, audio_per_char: float, frame_bytes: int) -> None:
        query = conn.upgrade.query
        self.conn = conn
        self.model = model
        self.encoding = query.get("encoding", "linear16")
        self.sample_rate = int(query.get("sample_rate") or _DEFAULT_RATE[self.encoding])
        self.audio_per_char = audio_per_char
        self.frame_bytes = frame_bytes
        self.request_id = str(uuid.uuid4())
        self.buffer: list[str] = []
        self.flushes = 0  # Flushed messages sent
        self.audio_sent = 0  # bytes of audio sent on this connection

    async def open(self) -> None:
        """Deepgram's first message: which model answers."""
        await self.conn.send_json({
            "type": "Metadata", "request_id": self.request_id, "model_name": self.model,
            "model_version": MODEL_VERSION, "model_uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.model)),
        })

    async def on_message(self, message: str | bytes) -> None:
        """Speak / Flush / Clear / Close, or a Warning."""
        if isinstance(message, bytes):
            await self._warn("binary messages are not accepted; send JSON text messages", "INVALID_MESSAGE")
            return
        try:
            parsed = json.loads(message)
            kind = parsed.get("type")
        except (ValueError, AttributeError):
            parsed, kind = None, None
        if kind == "Speak":
            text = parsed.get("text")
            if not isinstance(text, str):
                await self._warn("Speak needs a string `text`", "INVALID_MESSAGE")
            elif len(text) > MAX_SPEAK_CHARS:
                await self._warn(f"text longer than {MAX_SPEAK_CHARS} characters was dropped", "TEXT_TOO_LONG")
            else:
                self.buffer.append(text)
        elif kind == "Flush":
            await self._speak()
            await self.conn.send_json({"type": "Flushed", "sequence_id": self.flushes})
            self.flushes += 1
        elif kind == "Clear":
            self.buffer.clear()
            await self.conn.send_json({"type": "Cleared", "sequence_id": max(self.flushes - 1, 0)})
        elif kind == "Close":
            await self._speak()
            await self.conn.ws.close(1000, "")
        else:
            await self._warn(f"unknown message type: {str(kind)[:64]!r}", "UNKNOWN_MESSAGE_TYPE")

    async def _speak(self) -> None:
        text, self.buffer = "".join(self.buffer), []
        total = audio_bytes(text, encoding=self.encoding, sample_rate=self.sample_rate, audio_per_char=self.audio_per_char)
        pattern = bytes(range(251))
        for start in range(0, total, self.frame_bytes):
            size = min(self.frame_bytes, total - start)
            offset = start % 251
            frame = (pattern[offset:] + pattern * (size // 251 + 1))[:size]
            await self.conn.ws.send(frame)
            self.audio_sent += size

    async def _warn(self, description: str, code: str) -> None:
        await self.conn.send_json({"type": "Warning", "description": description, "code": code})
