"""Deepgram live transcription simulator (streaming ``/v1/listen``), on `websockets`; it also
serves Workers AI's Deepgram models (``/client/v4/accounts/{account}/ai/run/@cf/deepgram/…``)
and streaming text to speech (``/v1/speak``, Workers AI ``@cf/deepgram/aura-1``: JSON in,
binary audio out; realtime_deepgram_speak.py has that half's wire format).

    async with DeepgramLiveSimulator() as sim:                  # Deepgram direct
        sim.base_url()   # ws://127.0.0.1:PORT: [providers.deepgram] realtime_url
    async with DeepgramLiveSimulator(workers_ai=True) as sim:   # Workers AI
        sim.base_url()   # ws://127.0.0.1:PORT/client/v4/accounts/sim-account/ai: [providers.workers-ai] realtime_url

Handshake:

* Deepgram: ``Authorization: Token <key>`` (or ``Bearer <key>``), or the browser subprotocols
  ``token``, ``<key>`` (``token`` is selected, as Deepgram does); Workers AI: ``Authorization:
  Bearer <key>``. A missing or wrong key is refused with 401 and the provider's JSON body
  (Deepgram: ``{"err_code": "INVALID_AUTH", "err_msg", "request_id"}`` plus ``dg-error``;
  Workers AI: the v4 envelope with code 10000); an ``encoding`` it does not know is 400
  (``UNSUPPORTED_ENCODING``); a path it does not serve is 404.
* Query: ``encoding`` (``linear16`` default, ``mulaw``, ``alaw``, ``opus``, ``flac``),
  ``sample_rate`` (16000), ``channels`` (1), ``interim_results`` (``true``/``false``), ``model``.

Messages:

* binary frames are audio; the simulator "hears" one word of ``script`` (knob) per ``word_ms``
  of audio (bytes per second = sample_rate × channels × 2 for linear16, × 1 for mulaw/alaw;
  compressed encodings count 4000 B/s). Every ``segment_words`` heard words it sends a final
  ``Results`` (``is_final`` and ``speech_final`` true); with ``interim_results=true`` it also
  sends an interim ``Results`` (``is_final`` false) after each word of an unfinished segment;
* ``{"type": "KeepAlive"}`` only resets the inactivity timer;
* ``{"type": "Finalize"}`` flushes the words heard so far as a final ``Results`` with
  ``from_finalize: true``;
* ``{"type": "CloseStream"}`` flushes, then sends ``Metadata`` (``request_id``, ``duration``,
  ``channels``, ``model_info``) and closes with 1000;
* any other text is answered with an ``Error`` message (``{"type": "Error", "description",
  "message", "variant"}``); no frame for ``net_timeout`` seconds (knob, default 10) closes with
  1011 ``NET-0001``, as Deepgram does.

``Results`` is Deepgram's shape: ``{"type": "Results", "channel_index": [0, 1], "duration",
"start", "is_final", "speech_final", "from_finalize", "channel": {"alternatives": [{"transcript",
"confidence", "words": [{"word", "start", "end", "confidence", "punctuated_word"}]}]},
"metadata": {"request_id", "model_info": {"name", "version", "arch"}, "model_uuid"}}``.
``audio_frames`` / ``audio_bytes`` count what arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from aigw.testing.simulators.realtime_deepgram_speak import SpeakStream, is_speak_path, speak_refusal
from aigw.testing.simulators.realtime_server import RealtimeConnection, RealtimeSimulator, UpgradeRecord

__all__ = ["DeepgramLiveSimulator", "WORKERS_AI_ACCOUNT"]

WORKERS_AI_ACCOUNT = "sim-account"
SCRIPT = "hello from the deepgram simulator this is a live transcript of twenty millisecond frames"
_BYTES_PER_SAMPLE = {"linear16": 2, "linear32": 4, "mulaw": 1, "alaw": 1}
_COMPRESSED = frozenset({"opus", "flac", "amr-nb", "amr-wb", "speex", "g729"})


class DeepgramLiveSimulator(RealtimeSimulator):
    """See the module docstring."""

    name = "deepgram"
    subprotocols = ("token",)

    def __init__(
        self,
        *,
        key: str = "sim-deepgram-key",
        workers_ai: bool = False,
        script: str = SCRIPT,
        word_ms: int = 100,
        segment_words: int = 5,
        net_timeout: float = 10.0,
        audio_per_char: float = 0.01,
        frame_bytes: int = 4800,
    ) -> None:
        self.workers_ai = workers_ai
        #: Text to speech: seconds of audio per character, and the largest audio frame sent.
        self.audio_per_char = audio_per_char
        self.frame_bytes = frame_bytes
        self.script = script
        self.word_ms = word_ms
        self.segment_words = segment_words
        self.net_timeout = net_timeout
        super().__init__(key=key)

    @property
    def base_path(self) -> str:  # type: ignore[override]
        return f"/client/v4/accounts/{WORKERS_AI_ACCOUNT}/ai" if self.workers_ai else ""

    def reset(self) -> None:
        super().reset()
        self.audio_frames = 0
        self.audio_bytes = 0

    # -- handshake --
    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        if is_speak_path(upgrade.path, self.workers_ai):
            return True
        if self.workers_ai:
            return upgrade.path.startswith(f"{self.base_path}/run/@cf/deepgram/")
        return upgrade.path in ("/v1/listen", "/v1/listen/")

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        auth = upgrade.headers.get("authorization", "")
        if self.workers_ai:
            return auth == f"Bearer {self.key}"
        if auth in (f"Token {self.key}", f"Bearer {self.key}"):
            return True
        offered = upgrade.subprotocols
        return any(p == "token" and i + 1 < len(offered) and offered[i + 1] == self.key for i, p in enumerate(offered))

    def refusal(self, upgrade: UpgradeRecord) -> int | None:
        """An encoding Deepgram does not know is a 400."""
        if is_speak_path(upgrade.path, self.workers_ai):
            return speak_refusal(upgrade)
        encoding = upgrade.query.get("encoding", "linear16")
        return None if encoding in _BYTES_PER_SAMPLE or encoding in _COMPRESSED else 400

    def refusal_headers(self, status: int) -> list[tuple[str, str]]:
        """Deepgram names every request and explains a refusal in `dg-error`."""
        if self.workers_ai:
            return []
        headers = [("dg-request-id", str(uuid.uuid4()))]
        if status == 401:
            headers.append(("dg-error", "Invalid credentials."))
        return headers

    def error_response(self, status: int) -> dict:
        if self.workers_ai:
            message = {401: "Authentication error", 404: "No route for that URI", 400: "Bad input"}.get(status, "Internal error")
            code = {401: 10000, 404: 7000, 400: 5006}.get(status, 7010)
            return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
        kinds = {
            400: ("UNSUPPORTED_ENCODING", "The encoding is not supported."),
            401: ("INVALID_AUTH", "Invalid credentials."),
            404: ("NOT_FOUND", "Not found."),
            429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later."),
        }
        code, message = kinds.get(status, ("INTERNAL_SERVER_ERROR", "Internal server error."))
        return {"err_code": code, "err_msg": message, "request_id": str(uuid.uuid4())}

    # -- the stream --
    async def on_connect(self, conn: RealtimeConnection) -> None:
        path = conn.upgrade.path
        if is_speak_path(path, self.workers_ai):
            model = path.rsplit("/", 1)[-1] if self.workers_ai else conn.upgrade.query.get("model", "aura-2-thalia-en")
            speak = conn.state["speak"] = SpeakStream(conn, model, audio_per_char=self.audio_per_char, frame_bytes=self.frame_bytes)
            await speak.open()
            return
        query = conn.upgrade.query
        encoding = query.get("encoding", "linear16")
        rate = int(query.get("sample_rate", "16000") or 16000)
        channels = int(query.get("channels", "1") or 1)
        per_second = 4000 if encoding in _COMPRESSED else rate * channels * _BYTES_PER_SAMPLE[encoding]
        model = conn.upgrade.path.rsplit("/", 1)[-1] if self.workers_ai else query.get("model", "nova-3")
        conn.state.update(
            request_id=str(uuid.uuid4()),
            bytes_per_word=max(1, per_second * self.word_ms // 1000),
            per_second=per_second,
            model=model,
            interim=query.get("interim_results", "false") == "true",
            audio=0,  # bytes of audio received
            heard=0,  # words heard so far
            emitted=0,  # words already in a final result
            last=time.monotonic(),
        )
        conn.state["watchdog"] = asyncio.get_running_loop().create_task(self._watchdog(conn))

    async def on_disconnect(self, conn: RealtimeConnection) -> None:
        task = conn.state.get("watchdog")
        if task is not None:
            task.cancel()

    async def _watchdog(self, conn: RealtimeConnection) -> None:
        with contextlib.suppress(Exception):
            while True:
                idle = time.monotonic() - conn.state["last"]
                if idle >= self.net_timeout:
                    await conn.ws.close(1011, "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001")
                    return
                await asyncio.sleep(self.net_timeout - idle)

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        state = conn.state
        if "speak" in state:
            await state["speak"].on_message(message)
            return
        state["last"] = time.monotonic()
        if isinstance(message, bytes):
            self.audio_frames += 1
            self.audio_bytes += len(message)
            state["audio"] += len(message)
            heard = state["audio"] // state["bytes_per_word"]
            while state["heard"] < heard:
                state["heard"] += 1
                if state["heard"] - state["emitted"] >= self.segment_words:
                    await self._results(conn, final=True)
                elif state["interim"]:
                    await self._results(conn, final=False)
            return
        try:
            kind = json.loads(message).get("type")
        except (ValueError, AttributeError):
            kind = None
        if kind == "KeepAlive":
            return
        if kind == "Finalize":
            await self._results(conn, final=True, from_finalize=True)
            return
        if kind == "CloseStream":
            if state["heard"] > state["emitted"]:
                await self._results(conn, final=True)
            await conn.send_json({
                "type": "Metadata", "transaction_key": "deprecated", "request_id": state["request_id"],
                "sha256": "0" * 64, "created": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
                "duration": round(state["audio"] / state["per_second"], 3), "channels": 1,
                "models": [str(uuid.UUID(int=1))], "model_info": {str(uuid.UUID(int=1)): self._model_info(conn)},
            })
            await conn.ws.close(1000, "")
            return
        await conn.send_json({
            "type": "Error", "variant": "protocol",
            "description": "Failed to deserialize the text message.", "message": f"unknown message: {message[:64]!r}",
        })

    def _model_info(self, conn: RealtimeConnection) -> dict:
        return {"name": "general-nova-3", "version": "2025-01-01.0", "arch": conn.state["model"].rsplit("/", 1)[-1]}

    def _words(self, start: int, end: int) -> list[str]:
        script = self.script.split() or ["hello"]
        return [script[i % len(script)] for i in range(start, end)]

    async def _results(self, conn: RealtimeConnection, *, final: bool, from_finalize: bool = False) -> None:
        state = conn.state
        first, last = state["emitted"], state["heard"]
        seconds = self.word_ms / 1000
        words = [
            {"word": w, "start": round((first + i) * seconds, 3), "end": round((first + i + 1) * seconds, 3),
             "confidence": 0.99, "punctuated_word": w}
            for i, w in enumerate(self._words(first, last))
        ]
        await conn.send_json({
            "type": "Results",
            "channel_index": [0, 1],
            "duration": round((last - first) * seconds, 3),
            "start": round(first * seconds, 3),
            "is_final": final,
            "speech_final": final,
            "from_finalize": from_finalize,
            "channel": {"alternatives": [{
                "transcript": " ".join(w["word"] for w in words), "confidence": 0.99 if words else 0.0, "words": words,
            }]},
            "metadata": {"request_id": state["request_id"], "model_info": self._model_info(conn), "model_uuid": str(uuid.UUID(int=1))},
        })
        if final:
            state["emitted"] = last
