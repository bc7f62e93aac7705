"""OpenAI Realtime API simulator (providers.md §1.5), on the `websockets` library.

Served at ``ws://127.0.0.1:PORT/v1/realtime?model=…`` (``base_url()`` is ``…/v1``; the gateway's
``[providers.openai] realtime_url``). Also ``/v1/live/sessions`` (GPT-Live) answers
``session.start`` with ``session.started`` and ``session.close`` with ``session.closed``.

Auth: ``Authorization: Bearer <key>`` or the browser subprotocol ``openai-insecure-api-key.<key>``
(with ``realtime`` selected when offered); otherwise 401 with OpenAI's error body.

Events (every text frame is one JSON event with ``type``; server events carry ``event_id``):

* on connect: ``session.created``;
* ``session.update`` → ``session.updated`` (the session merged);
* ``input_audio_buffer.append`` (base64 ``audio``) / ``.commit`` → ``input_audio_buffer.committed``
  + ``conversation.item.created`` / ``.clear`` → ``input_audio_buffer.cleared``; committing an
  empty buffer is an ``error`` (``input_audio_buffer_commit_empty``);
* ``conversation.item.create`` → ``conversation.item.created``;
* ``response.create`` → ``response.created``, ``response.output_item.added``,
  ``response.content_part.added``, the reply in ``chunks`` ``response.output_text.delta`` events
  (or, with ``audio`` in ``output_modalities``, ``response.output_audio.delta`` base64 PCM16 plus
  ``response.output_audio_transcript.delta``), their ``.done`` events, ``response.done`` with
  ``usage`` (``input_tokens``, ``output_tokens``, ``total_tokens``, text/audio details);
* anything else, or invalid JSON → ``error`` (``invalid_request_error``) and the session goes on.

The reply echoes the last user text (or the ``reply`` knob); committed audio counts as the
user saying "audio" (one token per 3200 bytes of PCM16 at 24 kHz, i.e. per ~67 ms).
"""

from __future__ import annotations

import base64
import itertools
import json

from aigw.testing.simulators.realtime_server import RealtimeConnection, RealtimeSimulator, UpgradeRecord, pieces, words

__all__ = ["OpenAIRealtimeSimulator"]

_ids = itertools.count(1)


def _id(prefix: str) -> str:
    return f"{prefix}_{next(_ids):06d}"


class OpenAIRealtimeSimulator(RealtimeSimulator):
    """See the module docstring."""

    name = "openai"
    base_path = "/v1"
    subprotocols = ("realtime",)

    def __init__(self, *, key: str = "sk-sim-openai", chunks: int = 3, reply: str | None = None, audio_bytes: int = 4800) -> None:
        self.chunks = chunks
        self.reply = reply
        #: PCM16 bytes per response.output_audio.delta (4800 = 100 ms at 24 kHz).
        self.audio_bytes = audio_bytes
        super().__init__(key=key)

    def reset(self) -> None:
        super().reset()
        #: Server events written so far (a send that the peer does not read blocks, as on a socket).
        self.events_sent = 0

    # -- handshake --
    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        return upgrade.path in ("/v1/realtime", "/v1/live/sessions")

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        if upgrade.headers.get("authorization") == f"Bearer {self.key}":
            return True
        return f"openai-insecure-api-key.{self.key}" in upgrade.subprotocols

    def error_response(self, status: int) -> dict:
        kinds = {
            401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
            404: ("invalid_request_error", "model_not_found", "The model does not exist or you do not have access to it."),
            429: ("rate_limit_exceeded", "rate_limit_exceeded", "Rate limit reached for requests."),
        }
        kind, code, message = kinds.get(status, ("server_error", None, "The server had an error."))
        return {"error": {"message": message, "type": kind, "param": None, "code": code}}

    # -- session --
    async def on_connect(self, conn: RealtimeConnection) -> None:
        if conn.upgrade.path == "/v1/live/sessions":
            return
        model = conn.upgrade.query.get("model", "gpt-realtime")
        session = {
            "id": _id("sess"),
            "object": "realtime.session",
            "type": "realtime",
            "model": model,
            "output_modalities": ["text"],
            "instructions": "",
            "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}, "output": {"voice": "alloy"}},
        }
        conn.state.update(session=session, audio=bytearray(), last_text="", items=[])
        await self.event(conn, "session.created", session=session)

    async def event(self, conn: RealtimeConnection, type_: str, **fields) -> None:
        await conn.send_json({"type": type_, "event_id": _id("event"), **fields})
        self.events_sent += 1

    async def error(self, conn: RealtimeConnection, code: str, message: str, event_id: str | None = None) -> None:
        await self.event(conn, "error", error={
            "type": "invalid_request_error", "code": code, "message": message, "param": None, "event_id": event_id,
        })

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        if isinstance(message, bytes):
            await self.error(conn, "invalid_message", "Binary frames are not supported; send JSON text events.")
            return
        try:
            ev = json.loads(message)
            type_ = ev["type"]
        except (ValueError, KeyError, TypeError):
            await self.error(conn, "invalid_json", "The event is not a JSON object with a 'type'.")
            return
        if conn.upgrade.path == "/v1/live/sessions":
            await self._live(conn, ev)
            return
        handler = getattr(self, "_on_" + type_.replace(".", "_"), None)
        if handler is None:
            await self.error(conn, "invalid_value", f"Invalid value: '{type_}'.", ev.get("event_id"))
            return
        await handler(conn, ev)

    async def _on_session_update(self, conn: RealtimeConnection, ev: dict) -> None:
        session = conn.state["session"]
        update = ev.get("session")
        if isinstance(update, dict):
            session.update({k: v for k, v in update.items() if k != "type"})
        await self.event(conn, "session.updated", session=session)

    async def _on_input_audio_buffer_append(self, conn: RealtimeConnection, ev: dict) -> None:
        try:
            conn.state["audio"] += base64.b64decode(ev.get("audio", ""), validate=True)
        except ValueError:
            await self.error(conn, "invalid_value", "audio is not base64.", ev.get("event_id"))

    async def _on_input_audio_buffer_clear(self, conn: RealtimeConnection, ev: dict) -> None:
        conn.state["audio"] = bytearray()
        await self.event(conn, "input_audio_buffer.cleared")

    async def _on_input_audio_buffer_commit(self, conn: RealtimeConnection, ev: dict) -> None:
        audio = conn.state["audio"]
        if not audio:
            await self.error(conn, "input_audio_buffer_commit_empty", "Error committing input audio buffer: buffer is empty.", ev.get("event_id"))
            return
        item_id = _id("item")
        conn.state["audio_tokens"] = conn.state.get("audio_tokens", 0) + max(1, len(audio) // 3200)
        conn.state["audio"] = bytearray()
        conn.state["last_text"] = "audio"
        await self.event(conn, "input_audio_buffer.committed", previous_item_id=None, item_id=item_id)
        await self.event(conn, "conversation.item.created", previous_item_id=None, item={
            "id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        })

    async def _on_conversation_item_create(self, conn: RealtimeConnection, ev: dict) -> None:
        item = dict(ev.get("item") or {})
        item.setdefault("id", _id("item"))
        item.setdefault("object", "realtime.item")
        item.setdefault("status", "completed")
        for part in item.get("content") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                conn.state["last_text"] = part["text"]
        conn.state["items"].append(item)
        await self.event(conn, "conversation.item.created", previous_item_id=None, item=item)

    async def _on_response_cancel(self, conn: RealtimeConnection, ev: dict) -> None:
        await self.error(conn, "response_cancel_not_active", "Cancellation failed: no active response found.", ev.get("event_id"))

    async def _on_response_create(self, conn: RealtimeConnection, ev: dict) -> None:
        session = conn.state["session"]
        options = ev.get("response") or {}
        modalities = options.get("output_modalities") or session.get("output_modalities") or ["text"]
        audio = "audio" in modalities
        text = self.reply if self.reply is not None else conn.state["last_text"] or "Hello."
        response_id, item_id = _id("resp"), _id("item")
        response = {"id": response_id, "object": "realtime.response", "status": "in_progress", "output": [], "usage": None}
        await self.event(conn, "response.created", response=response)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "in_progress", "role": "assistant", "content": []}
        await self.event(conn, "response.output_item.added", response_id=response_id, output_index=0, item=item)
        part_type = "audio" if audio else "text"
        await self.event(conn, "response.content_part.added", response_id=response_id, item_id=item_id, output_index=0,
                         content_index=0, part={"type": part_type, "text" if not audio else "transcript": ""})
        where = dict(response_id=response_id, item_id=item_id, output_index=0, content_index=0)
        audio_tokens = 0
        for piece in pieces(text, self.chunks):
            if audio:
                pcm = bytes(self.audio_bytes)
                audio_tokens += max(1, len(pcm) // 3200)
                await self.event(conn, "response.output_audio.delta", delta=base64.b64encode(pcm).decode(), **where)
                await self.event(conn, "response.output_audio_transcript.delta", delta=piece, **where)
            else:
                await self.event(conn, "response.output_text.delta", delta=piece, **where)
        if audio:
            await self.event(conn, "response.output_audio.done", **where)
            await self.event(conn, "response.output_audio_transcript.done", transcript=text, **where)
            part = {"type": "audio", "transcript": text}
        else:
            await self.event(conn, "response.output_text.done", text=text, **where)
            part = {"type": "text", "text": text}
        await self.event(conn, "response.content_part.done", part=part, **where)
        item.update(status="completed", content=[part])
        await self.event(conn, "response.output_item.done", response_id=response_id, output_index=0, item=item)
        text_in = sum(words(p.get("text", "")) for i in conn.state["items"] for p in i.get("content") or [] if isinstance(p, dict))
        audio_in = conn.state.pop("audio_tokens", 0)
        text_out = words(text)
        usage = {
            "total_tokens": text_in + audio_in + text_out + audio_tokens,
            "input_tokens": text_in + audio_in,
            "output_tokens": text_out + audio_tokens,
            "input_token_details": {"cached_tokens": 0, "text_tokens": text_in, "audio_tokens": audio_in, "image_tokens": 0,
                                    "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}},
            "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_tokens},
        }
        response.update(status="completed", output=[item], usage=usage)
        await self.event(conn, "response.done", response=response)

    # -- GPT-Live (/v1/live/sessions) --
    async def _live(self, conn: RealtimeConnection, ev: dict) -> None:
        if ev["type"] == "session.start":
            conn.state["live"] = _id("live")
            await self.event(conn, "session.started", session={"id": conn.state["live"], **(ev.get("session") or {})})
        elif ev["type"] == "session.close":
            await self.event(conn, "session.closed", session={"id": conn.state.get("live")})
            await conn.ws.close(1000)
        else:
            await self.error(conn, "invalid_value", f"Invalid value: '{ev['type']}'.", ev.get("event_id"))
