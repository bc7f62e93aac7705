"""Gemini Live API simulator (BidiGenerateContent; anchors-2026-12.md §4.3), on `websockets`.

Served at ``ws://127.0.0.1:PORT/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent``
(``base_url()`` is the root: the gateway's ``[providers.google-ai-studio] realtime_url``).

Auth: ``x-goog-api-key`` header or ``?key=``; a missing or wrong key is accepted at the upgrade
and then closed with 1007 ("API key not valid..."), as Google does.

Messages (JSON; sent as binary frames by default, as Google does: ``binary_frames=False`` sends
text):

* the first client message must be ``{"setup": {"model": "models/…", "generationConfig": …,
  "sessionResumption": {"handle"?: …}}}`` → ``{"setupComplete": {}}``; anything else first closes
  with 1007; with ``sessionResumption`` the server sends ``sessionResumptionUpdate {newHandle,
  resumable: true}`` after setup and after every turn. A known handle restores the session's
  turns (the reply counts them), an unknown one closes with 1008;
* ``clientContent {turns, turnComplete: true}`` or ``realtimeInput {text}`` → the reply in
  ``chunks`` ``serverContent.modelTurn.parts[].text`` messages, ``serverContent.generationComplete``,
  then ``serverContent.turnComplete`` with ``usageMetadata {promptTokenCount,
  responseTokenCount, totalTokenCount}`` (this turn's counts);
* ``realtimeInput {audio: {data, mimeType}}`` accumulates; ``realtimeInput {audioStreamEnd:
  true}`` answers as if the user said "audio";
* ``chunks`` / ``chunk_delay`` (knobs): pieces of a reply and seconds between them;
* ``go_away_after`` (seconds, knob): each connection sends ``{"goAway": {"timeLeft": "…s"}}``
  after that long, then closes with ``go_away_close`` (default 1000) ``go_away_grace`` seconds
  later, whatever the client does.

The reply is ``reply`` (knob) or "turn N: <last user text>", N counting the session's turns
(so a resumed session is visibly the same session).

Field names are read as a proto3 JSON parser reads them: the lowerCamelCase JSON name or the
proto field name (``clientContent`` or ``client_content``, ``turnComplete`` or
``turn_complete``): the google-genai SDK sends ``client_content``, ``realtime_input`` and
``tool_response`` with their proto names. Free-form values (a function call's ``args``, a tool's
``response``) are left as they are.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from typing import Any

from aigw.testing.simulators.realtime_server import RealtimeConnection, RealtimeSimulator, UpgradeRecord, pieces, words

__all__ = ["GEMINI_LIVE_PATH", "GeminiLiveSimulator"]

GEMINI_LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
_handles = itertools.count(1)
#: Fields whose values are free-form JSON (google.protobuf.Struct): their keys are data.
_STRUCT_FIELDS = frozenset({"args", "response", "parameters", "parametersJsonSchema", "responseJsonSchema"})


def json_names(value: Any) -> Any:
    """`value` with every proto field name (snake_case) spelled as its JSON name (lowerCamelCase),
    as Google's proto3 JSON parser accepts both."""
    if isinstance(value, list):
        return [json_names(v) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        head, *rest = key.split("_")
        name = head + "".join(part[:1].upper() + part[1:] for part in rest)
        out[name] = item if name in _STRUCT_FIELDS else json_names(item)
    return out


class GeminiLiveSimulator(RealtimeSimulator):
    """See the module docstring."""

    name = "google-ai-studio"
    base_path = ""

    def __init__(
        self,
        *,
        key: str = "sim-google-key",
        chunks: int = 3,
        chunk_delay: float = 0.0,
        reply: str | None = None,
        binary_frames: bool = True,
        go_away_after: float | None = None,
        go_away_grace: float = 0.2,
        go_away_close: int = 1000,
    ) -> None:
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.reply = reply
        self.binary_frames = binary_frames
        self.go_away_after = go_away_after
        self.go_away_grace = go_away_grace
        self.go_away_close = go_away_close
        super().__init__(key=key)

    def reset(self) -> None:
        super().reset()
        #: Resumable sessions by handle: the turns each had.
        self.sessions: dict[str, int] = {}
        self.setups: list[dict] = []

    # -- handshake --
    def path_ok(self, upgrade: UpgradeRecord) -> bool:
        return upgrade.path in (GEMINI_LIVE_PATH, GEMINI_LIVE_PATH.replace("v1beta", "v1alpha"))

    def authorized(self, upgrade: UpgradeRecord) -> bool:
        return True  # checked after the upgrade (close 1007), as Google does

    def error_response(self, status: int) -> dict:
        names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED"}
        return {"error": {"code": status, "message": "simulated error", "status": names.get(status, "INTERNAL")}}

    # -- session --
    async def send(self, conn: RealtimeConnection, obj: dict) -> None:
        await conn.send_json(obj, binary=self.binary_frames)

    async def on_connect(self, conn: RealtimeConnection) -> None:
        key = conn.upgrade.headers.get("x-goog-api-key") or conn.upgrade.query.get("key")
        if key != self.key:
            await conn.ws.close(1007, "API key not valid. Please pass a valid API key.")
            return
        conn.state.update(setup=None, turns=0, audio=0, resumable=False)
        if self.go_away_after is not None:
            conn.state["go_away"] = asyncio.get_running_loop().create_task(self._go_away(conn))

    async def on_disconnect(self, conn: RealtimeConnection) -> None:
        task = conn.state.get("go_away")
        if task is not None:
            task.cancel()

    async def _go_away(self, conn: RealtimeConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.sleep(self.go_away_after or 0)
            await self.send(conn, {"goAway": {"timeLeft": f"{self.go_away_grace:g}s"}})
            await asyncio.sleep(self.go_away_grace)
            await conn.ws.close(self.go_away_close, "session time limit reached")

    async def on_message(self, conn: RealtimeConnection, message: str | bytes) -> None:
        try:
            msg = json_names(json.loads(message))
            if not isinstance(msg, dict):
                raise ValueError
        except ValueError:
            await conn.ws.close(1007, "Invalid JSON payload received.")
            return
        if conn.state["setup"] is None:
            await self._setup(conn, msg)
        elif "clientContent" in msg:
            content = msg["clientContent"] or {}
            text = " ".join(
                p.get("text", "") for t in content.get("turns") or [] for p in t.get("parts") or [] if isinstance(p, dict)
            )
            conn.state["last"] = text
            if content.get("turnComplete"):
                await self._answer(conn, text)
        elif "realtimeInput" in msg:
            rin = msg["realtimeInput"] or {}
            if isinstance(rin.get("text"), str):
                await self._answer(conn, rin["text"])
            elif isinstance(rin.get("audio"), dict):
                conn.state["audio"] += len(base64.b64decode(rin["audio"].get("data", "")))
            elif rin.get("audioStreamEnd"):
                await self._answer(conn, "audio")
        elif "toolResponse" in msg:
            pass
        else:
            await conn.ws.close(1007, "Invalid message: unknown field.")

    async def _setup(self, conn: RealtimeConnection, msg: dict) -> None:
        setup = msg.get("setup")
        if not isinstance(setup, dict) or not isinstance(setup.get("model"), str):
            await conn.ws.close(1007, "The first message must be a setup message with a model.")
            return
        self.setups.append(setup)
        resumption = setup.get("sessionResumption")
        if isinstance(resumption, dict):
            handle = resumption.get("handle")
            if handle:
                if handle not in self.sessions:
                    await conn.ws.close(1008, "Session resumption handle is invalid or expired.")
                    return
                conn.state["turns"] = self.sessions[handle]
            conn.state["resumable"] = True
        conn.state["setup"] = setup
        await self.send(conn, {"setupComplete": {}})
        await self._new_handle(conn)

    async def _new_handle(self, conn: RealtimeConnection) -> None:
        if not conn.state["resumable"]:
            return
        handle = f"handle-{next(_handles)}"
        self.sessions[handle] = conn.state["turns"]
        await self.send(conn, {"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})

    async def _answer(self, conn: RealtimeConnection, text: str) -> None:
        conn.state["turns"] += 1
        reply = self.reply if self.reply is not None else f"turn {conn.state['turns']}: {text}"
        for piece in pieces(reply, self.chunks):
            await self.send(conn, {"serverContent": {"modelTurn": {"role": "model", "parts": [{"text": piece}]}}})
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await self.send(conn, {"serverContent": {"generationComplete": True}})
        prompt, response = words(text), words(reply)
        await self.send(conn, {
            "serverContent": {"turnComplete": True},
            "usageMetadata": {"promptTokenCount": prompt, "responseTokenCount": response, "totalTokenCount": prompt + response,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
                              "responseTokensDetails": [{"modality": "TEXT", "tokenCount": response}]},
        })
        await self._new_handle(conn)
