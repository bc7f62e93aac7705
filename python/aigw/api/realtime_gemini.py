"""Gemini Live session resumption, seen from a relay (anchors-2026-12.md §4.3).

Gemini Live ends connections after about ten minutes, announcing it with a ``goAway`` message.
A session that enabled ``sessionResumption`` in its ``setup`` receives
``sessionResumptionUpdate {newHandle, resumable}`` messages; a new connection whose ``setup``
carries ``sessionResumption.handle`` continues the same session. ``GeminiResumption`` watches
the messages of one relayed session and tells the relay when to reconnect and with which setup,
so the client keeps its socket and sees no interruption. The switch happens between turns: never
while the model is answering, nor while a turn the client ended is unanswered, and with the
handle that covers the last turn (the update that follows ``turnComplete``).

Only messages that can matter are decoded: a substring check comes before orjson. Gemini sends
its JSON as text or as binary frames, so both are looked at. Client field names are read as
Google's proto3 JSON parser reads them, JSON name or proto name: the google-genai SDK sends
`client_content` / `realtime_input` (proto names) around camelCase contents.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["DROP", "FORWARD", "FORWARD_RESUME", "RESUME", "GeminiResumption"]

FORWARD, DROP, RESUME, FORWARD_RESUME = "forward", "drop", "resume", "forward-resume"


#: A client message that ends a turn (the model will answer it), in either spelling.
_ENDS_TURN = (b'"turnComplete"', b'"turn_complete"', b'"audioStreamEnd"', b'"audio_stream_end"')
_REALTIME_INPUT = (b'"realtimeInput"', b'"realtime_input"')


def _json(payload: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, dict) else None


class GeminiResumption:
    """The resumption state of one Gemini Live session (see the module docstring)."""

    __slots__ = (
        "setup", "setup_opcode", "enabled", "handle", "resumable", "going_away", "swallow_setup_complete", "model",
        "generating", "awaiting",
    )

    def __init__(self) -> None:
        self.setup: dict[str, Any] | None = None
        self.setup_opcode = 1
        #: The client's setup asked for sessionResumption.
        self.enabled = False
        #: The latest handle and whether the server said it may be resumed now.
        self.handle: str | None = None
        self.resumable = False
        #: A goAway arrived: reconnect as soon as a resumable handle is known.
        self.going_away = False
        #: A resumed connection's setupComplete is not shown to the client (it had one).
        self.swallow_setup_complete = False
        self.model: str | None = None
        #: The model is answering (a turn started and has not completed): switching connections
        #: now would lose the rest of the answer, so a goAway waits for the turn's end.
        self.generating = False
        #: The client ended a turn that the model has not started answering: switching now
        #: would lose that turn.
        self.awaiting = False

    def client_message(self, opcode: int, payload: bytes) -> None:
        """Remember the client's first ``setup`` (its model, whether it enabled resumption) and
        whether a turn it ended is still unanswered."""
        if self.setup is not None:
            if any(marker in payload for marker in _ENDS_TURN) or (
                b'"text"' in payload and any(marker in payload for marker in _REALTIME_INPUT)
            ):
                self.awaiting = True
            return
        if b'"setup"' not in payload:
            return
        doc = _json(payload)
        setup = doc.get("setup") if doc is not None else None
        if not isinstance(setup, dict):
            return
        if "session_resumption" in setup:  # the proto name: kept under the JSON name
            setup = dict(setup)
            setup.setdefault("sessionResumption", setup.pop("session_resumption"))
        self.setup, self.setup_opcode = setup, opcode
        resumption = setup.get("sessionResumption")
        self.enabled = isinstance(resumption, dict)
        model = setup.get("model")
        self.model = model if isinstance(model, str) else None
        handle = resumption.get("handle") if isinstance(resumption, dict) else None
        if isinstance(handle, str) and handle:
            self.handle, self.resumable = handle, True

    def upstream_message(self, payload: bytes) -> str:
        """FORWARD the message to the client, DROP it, RESUME (reconnect now, not forwarding
        this goAway) or FORWARD_RESUME (forward it, then reconnect: a resumable handle arrived
        between turns after a goAway)."""
        if self.swallow_setup_complete and b'"setupComplete"' in payload:
            self.swallow_setup_complete = False
            return DROP
        if b'"modelTurn"' in payload:
            self.generating, self.awaiting = True, False
        if b'"turnComplete"' in payload or b'"interrupted"' in payload:
            # The handle that covers this turn comes next: wait for it.
            self.generating = self.awaiting = False
        if b'"sessionResumptionUpdate"' in payload:
            doc = _json(payload)
            update = doc.get("sessionResumptionUpdate") if doc is not None else None
            if isinstance(update, dict):
                handle = update.get("newHandle")
                if update.get("resumable") and isinstance(handle, str) and handle:
                    self.handle, self.resumable = handle, True
                elif update.get("resumable") is False:
                    self.resumable = False
            return FORWARD_RESUME if self._resume_now() else FORWARD
        if b'"goAway"' in payload and self.enabled:
            doc = _json(payload)
            if doc is not None and "goAway" in doc:
                self.going_away = True
                return RESUME if self._resume_now() else DROP
        return FORWARD

    def _resume_now(self) -> bool:
        return self.going_away and not self.generating and not self.awaiting and self.can_resume()

    def can_resume(self) -> bool:
        """Whether a new connection could continue the session now."""
        return self.enabled and self.setup is not None and self.resumable and bool(self.handle)

    def resumed_setup(self) -> bytes:
        """The client's setup with the latest handle, for a new connection."""
        setup = dict(self.setup or {})
        resumption = dict(setup.get("sessionResumption") or {})
        resumption["handle"] = self.handle
        setup["sessionResumption"] = resumption
        self.going_away = False
        self.swallow_setup_complete = True
        return orjson.dumps({"setup": setup})
