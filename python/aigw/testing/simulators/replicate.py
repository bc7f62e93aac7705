"""Replicate as api.replicate.com/v1 serves it (providers.md §10).

* ``POST /v1/models/{owner}/{name}/predictions`` and ``POST /v1/predictions`` (``version``):
  201 with the prediction, ``status: starting``, ``urls.get/cancel/stream`` (the stream URL is
  on this simulator, ``/v1/stream/{id}``); with ``Prefer: wait`` the answer is the finished
  prediction;
* ``GET /v1/predictions/{id}``: ``processing`` on the first poll, then ``succeeded`` with
  ``output`` (a list of text pieces) and ``metrics`` (``input_token_count``,
  ``output_token_count``, ``predict_time``…); ``POST /v1/predictions/{id}/cancel`` → ``canceled``;
* ``GET /v1/stream/{id}`` (``Accept: text/event-stream``): ``event: output`` frames with raw-text
  data (a newline inside a piece becomes several ``data:`` lines), every event with an ``id:``,
  then ``event: done`` ``{}``;
* auth ``Authorization: Bearer r8_…`` or ``Token r8_…``; errors RFC 7807 ``{"title", "detail",
  "status"}``; 429 ``Request was throttled…`` with ``retry-after``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import _text
from ._core import Call, Frame, Simulator, endpoint

CREATED_AT = "2025-01-01T00:00:00.000Z"


class ReplicateSimulator(Simulator):
    """api.replicate.com/v1: predictions, polling, cancel, the stream URL."""

    slug = "replicate"
    default_key = "r8_sim_replicate"
    base_path = "/v1"

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.predictions: dict[str, dict[str, Any]] = {}

    def reset(self) -> None:
        """Also forget predictions."""
        super().reset()
        self.predictions.clear()

    def routes(self) -> list[web.RouteDef]:
        """Create, get, cancel, stream."""
        return [
            web.post("/v1/models/{owner}/{name}/predictions", self.create),
            web.post("/v1/predictions", self.create),
            web.get("/v1/predictions/{id}", self.get),
            web.post("/v1/predictions/{id}/cancel", self.cancel),
            web.get("/v1/stream/{id}", self.stream),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``Bearer`` or ``Token`` equal to ``key``."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip() == self.key:
            return None
        return self.error_response(401, "You did not pass a valid authentication token")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """RFC 7807 problem JSON."""
        if status == 429:
            message = "Request was throttled. Expected available in 1 second."
        return {"title": _TITLES.get(status, "Error"), "detail": message, "status": status}, {}

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """``owner/name`` from the path, or the body's ``version``."""
        if "owner" in request.match_info:
            return f"{request.match_info['owner']}/{request.match_info['name']}"
        return str(body.get("version", ""))

    def _finish(self, prediction: dict[str, Any], status: str) -> dict[str, Any]:
        prompt = _text.text_of((prediction["input"] or {}).get("prompt"))
        reply = self.reply_text(prompt)
        prediction.update(status=status, completed_at=CREATED_AT)
        if status == "succeeded":
            prediction["output"] = self.pieces(reply)
            prediction["metrics"] = {
                "input_token_count": _text.count_tokens(prompt),
                "output_token_count": _text.count_tokens(reply),
                "predict_time": 0.25,
                "time_to_first_token": 0.05,
                "tokens_per_second": 40.0,
                "total_time": 0.3,
            }
        return prediction

    @endpoint
    async def create(self, call: Call) -> web.StreamResponse:
        """A new prediction (finished at once with ``Prefer: wait``)."""
        pid = f"p{call.id}"
        root = f"{self.url}/v1"
        prediction = {
            "id": pid,
            "model": call.model,
            "version": call.body.get("version", "sim-version"),
            "input": call.body.get("input") if isinstance(call.body.get("input"), dict) else {},
            "logs": "",
            "output": None,
            "error": None,
            "status": "starting",
            "created_at": CREATED_AT,
            "urls": {"get": f"{root}/predictions/{pid}", "cancel": f"{root}/predictions/{pid}/cancel", "stream": f"{root}/stream/{pid}"},
        }
        self.predictions[pid] = prediction
        if call.request.headers.get("Prefer", "").startswith("wait"):
            self._finish(prediction, "succeeded")
        return await self.send_json(call, prediction, status=201)

    @endpoint
    async def get(self, call: Call) -> web.StreamResponse:
        """Poll: ``processing`` once, then ``succeeded``."""
        prediction = self.predictions.get(call.request.match_info["id"])
        if prediction is None:
            return self.error_response(404, "The requested resource could not be found.")
        if prediction["status"] == "starting":
            prediction["status"] = "processing"
        elif prediction["status"] == "processing":
            self._finish(prediction, "succeeded")
        return await self.send_json(call, prediction)

    @endpoint
    async def cancel(self, call: Call) -> web.StreamResponse:
        """Cancel a prediction that has not finished."""
        prediction = self.predictions.get(call.request.match_info["id"])
        if prediction is None:
            return self.error_response(404, "The requested resource could not be found.")
        if prediction["status"] in ("starting", "processing"):
            self._finish(prediction, "canceled")
        return await self.send_json(call, prediction)

    @endpoint
    async def stream(self, call: Call) -> web.StreamResponse:
        """The prediction's output as SSE: ``output`` events, then ``done``."""
        prediction = self.predictions.get(call.request.match_info["id"])
        if prediction is None:
            return self.error_response(404, "The requested resource could not be found.")
        pieces = self.pieces(self.reply_text(_text.text_of((prediction["input"] or {}).get("prompt"))))
        frames: list[Frame] = []
        for number, piece in enumerate(pieces):
            data = "".join(f"data: {line}\n" for line in piece.split("\n"))
            frames.append((f"event: output\nid: 1690212292:{number}\n{data}\n".encode(), True))
        frames.append((f"event: done\nid: 1690212292:{len(pieces)}\ndata: {{}}\n\n".encode(), False))
        self._finish(prediction, "succeeded")
        return await self.send_stream(call, frames)


_TITLES = {401: "Unauthenticated", 404: "Not found", 422: "Input validation failed", 429: "Too many requests", 500: "Internal server error"}
