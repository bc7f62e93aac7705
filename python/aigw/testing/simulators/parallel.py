"""Parallel (api.parallel.ai): task runs and search (cloudflare-aigw.md §4).

* ``POST /v1/tasks/runs`` ``{"input": …, "processor": "base"}`` → 202-style run object
  ``{"run_id", "status": "queued", "is_active": true, "processor", "created_at"}`` (HTTP 200);
* ``GET /v1/tasks/runs/{run_id}/result`` → ``{"run": {… "status": "completed"}, "output":
  {"type": "text", "content": <the input echoed>}}``;
* ``POST /v1beta/search`` ``{"objective": …}`` → ``{"search_id", "results": [{"url", "title",
  "excerpts"}]}``;
* auth ``x-api-key: <key>``; errors ``{"type": "error", "error": {"ref_id", "message"}}``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ._core import Call, Simulator, endpoint

CREATED = "2025-01-01T00:00:00Z"


class ParallelSimulator(Simulator):
    """api.parallel.ai: tasks and search."""

    slug = "parallel"
    default_key = "sim-parallel-key"
    base_path = ""

    def __init__(self, **knobs: Any) -> None:
        super().__init__(**knobs)
        self.runs: dict[str, str] = {}

    def routes(self) -> list[web.RouteDef]:
        """Task runs, their results, and search."""
        return [
            web.post("/v1/tasks/runs", self.create_run),
            web.get("/v1/tasks/runs/{run_id}/result", self.result),
            web.post("/v1beta/search", self.search),
        ]

    def check_auth(self, request: web.Request) -> web.Response | None:
        """``x-api-key`` equal to ``key``."""
        if request.headers.get("x-api-key") == self.key:
            return None
        return self.error_response(401, "Invalid API key")

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """``{"type": "error", "error": {"ref_id", "message"}}``."""
        return {"type": "error", "error": {"ref_id": "sim-ref", "message": message}}, {}

    def _run(self, run_id: str, status: str) -> dict[str, Any]:
        return {"run_id": run_id, "status": status, "is_active": status != "completed", "processor": "base", "created_at": CREATED}

    @endpoint
    async def create_run(self, call: Call) -> web.StreamResponse:
        """Queue a run (it completes at once)."""
        run_id = f"trun_{call.id}"
        task_input = call.body.get("input")
        self.runs[run_id] = task_input if isinstance(task_input, str) else str(task_input)
        return await self.send_json(call, self._run(run_id, "queued"))

    @endpoint
    async def result(self, call: Call) -> web.StreamResponse:
        """The finished run and its text output (404 for an unknown run)."""
        run_id = call.request.match_info["run_id"]
        if run_id not in self.runs:
            return self.error_response(404, f"Run {run_id} not found")
        output = {"type": "text", "content": self.reply_text(self.runs[run_id]), "basis": []}
        return await self.send_json(call, {"run": self._run(run_id, "completed"), "output": output})

    @endpoint
    async def search(self, call: Call) -> web.StreamResponse:
        """One result that quotes the objective."""
        objective = str(call.body.get("objective", ""))
        result = {"url": "https://example.com/sim", "title": "Simulated result", "excerpts": [objective]}
        return await self.send_json(call, {"search_id": f"search_{call.id}", "results": [result]})
