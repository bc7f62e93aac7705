"""The logs API: list, read, annotate and delete a gateway's request logs over HTTP, in
Cloudflare's shape where it has one (`/accounts/{account}/ai-gateway/gateways/{gateway}/logs`
there; here under the gateway's own path). docs/observability.md has the reference.

    GET    /v1/{account}/{gateway}/logs                 list (filters, cursor paging)
    DELETE /v1/{account}/{gateway}/logs                 delete what the filters match
    GET    /v1/{account}/{gateway}/logs/{id}            one log, with its bodies
    GET    /v1/{account}/{gateway}/logs/{id}/request    its request body, as stored
    GET    /v1/{account}/{gateway}/logs/{id}/response   its response body, as stored
    PATCH  /v1/{account}/{gateway}/logs/{id}            {"feedback": ±1, "score": 0..100, "metadata": {...}}

Every route is authenticated like the rest of the gateway (the front door checks the token
for `{gateway}`), and answers only that gateway's logs: a token scoped to one gateway never
sees another's. Reads go through the `LogStore` protocol and writes through `LogEditor`, so
the API works on every log store (SQLite, aigw-postgres). Answers are Cloudflare envelopes:
`{"success", "result", "result_info", "errors", "messages"}`.
"""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, Callable, Mapping
from urllib.parse import parse_qsl, urlencode

import orjson

from aigw.errors import BadRequest
from aigw.interfaces import LogEditor, LogStore
from aigw.log_query import LogPatch, LogQuery, StoredLog
from aigw.logrecords import attempts_to_list
from aigw.protocol.http11 import HttpResponse, Request

__all__ = ["LOGS_PATTERN", "LogsApi", "log_to_api"]

LOGS_PATTERN = "/v1/{account}/{gateway}/logs"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 1000
MAX_PATCH_BYTES = 16 * 1024

_BOOL = {"true": True, "false": False, "1": True, "0": False}


def _error(status: int, code: int, message: str) -> HttpResponse:
    return HttpResponse.json(
        {"success": False, "result": None, "errors": [{"code": code, "message": message}], "messages": []}, status=status
    )


def _ok(result: Any, result_info: Mapping[str, Any] | None = None) -> HttpResponse:
    body: dict[str, Any] = {"success": True, "result": result, "errors": [], "messages": []}
    if result_info is not None:
        body["result_info"] = result_info
    return HttpResponse.json(body)


def _iso(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def _time(name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be an ISO 8601 time or unix seconds, got {value!r}") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise BadRequest(f"{name} must be a number, got {value!r}") from None
    if number != number:
        raise BadRequest(f"{name} must be a number, got {value!r}")
    return number


def _integer(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"{name} must be an integer, got {value!r}") from None


def _boolean(name: str, value: str) -> bool:
    try:
        return _BOOL[value.lower()]
    except KeyError:
        raise BadRequest(f"{name} must be true or false, got {value!r}") from None


#: Query parameter → (LogQuery field, parser). Cloudflare's names where it has them.
_FILTERS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "start_date": ("since", _time),
    "end_date": ("until", _time),
    "provider": ("provider", lambda n, v: v),
    "model": ("model", lambda n, v: v),
    "request_type": ("request_type", lambda n, v: v),
    "event_id": ("event_id", lambda n, v: v),
    "status_code": ("status", _integer),
    "success": ("success", _boolean),
    "cached": ("cached", _boolean),
    "feedback": ("feedback", _integer),
    "min_cost": ("min_cost", _number),
    "max_cost": ("max_cost", _number),
    "min_duration": ("min_duration", _number),
    "max_duration": ("max_duration", _number),
}
_PAGING = {"per_page", "cursor", "direction", "order_by_direction", "order_by"}


def parse_filters(query_string: str, gateway: str, *, paging: bool) -> tuple[LogQuery, bool]:
    """The LogQuery of a request's query string, always restricted to `gateway`, and whether
    any filter was given. `metadata.<key>=<value>` matches a metadata entry. An unknown
    parameter is refused (a typo must not widen a listing, let alone a delete)."""
    fields: dict[str, Any] = {"gateway": gateway, "limit": DEFAULT_PER_PAGE}
    metadata: dict[str, str] = {}
    filtered = False
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name.startswith("metadata.") and len(name) > len("metadata."):
            metadata[name[len("metadata."):]] = value
            filtered = True
        elif name in _FILTERS:
            field_name, parse = _FILTERS[name]
            fields[field_name] = parse(name, value)
            filtered = True
        elif paging and name == "per_page":
            per_page = _integer(name, value)
            if not 1 <= per_page <= MAX_PER_PAGE:
                raise BadRequest(f"per_page must be from 1 to {MAX_PER_PAGE}, got {per_page}")
            fields["limit"] = per_page
        elif paging and name == "cursor":
            fields["cursor"] = value
        elif paging and name in ("direction", "order_by_direction"):
            if value not in ("asc", "desc"):
                raise BadRequest(f"{name} must be asc or desc, got {value!r}")
            fields["order"] = value
        elif paging and name == "order_by":
            if value != "created_at":
                raise BadRequest("order_by must be created_at (logs are listed in time order)")
        else:
            known = sorted(_FILTERS) + (sorted(_PAGING) if paging else []) + ["metadata.<key>"]
            raise BadRequest(f"unknown parameter {name!r} (known: {', '.join(known)})")
    fields["metadata"] = metadata
    query = LogQuery(**fields)
    return query, filtered


def log_to_api(r: StoredLog, *, bodies: bool = False) -> dict[str, Any]:
    """One log in the API's shape (Cloudflare's field names, plus aigw's own)."""
    out: dict[str, Any] = {
        "id": r.log_id,
        "created_at": _iso(r.created_at),
        "gateway": r.gateway,
        "provider": r.provider,
        "model": r.model,
        "path": r.endpoint,
        "request_type": r.request_type,
        "event_id": r.event_id,
        "status_code": r.status,
        "success": r.success,
        "cached": r.cache_status == "HIT",
        "step": r.step,
        "stream": r.stream,
        "cancelled": r.cancelled,
        "duration": round(r.duration_ms),
        "ttfb": None if r.ttfb_ms is None else round(r.ttfb_ms),
        "tokens_in": r.tokens_in,
        "tokens_out": r.tokens_out,
        "cost": r.cost,
        "custom_cost": r.custom_cost is not None,
        "metadata": orjson.dumps(r.metadata).decode() if r.metadata else None,  # a string, as Cloudflare's
        "feedback": r.feedback,
        "score": r.score,
        "error": r.error,
        "request_content_type": r.request_content_type,
        "response_content_type": r.response_content_type,
        "request_size": r.request_body_size,
        "response_size": r.response_body_size,
        "attempts": attempts_to_list(r.attempts),
        "session": r.session,  # realtime sessions: frames/bytes each way, closes, resumptions
    }
    if bodies:
        for name, body in (("request", r.request_body), ("response", r.response_body)):
            text = None
            if body is not None:
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    out[f"{name}_base64"] = base64.b64encode(body).decode("ascii")
            out[f"{name}_body"] = text
    return out


class LogsApi:
    """The route handlers; `store()` gives the log store (None: none is configured)."""

    def __init__(self, store: Callable[[], LogStore | None]) -> None:
        self._store = store

    def routes(self) -> list[tuple[str, str, Any]]:
        """(method, pattern, handler) for the router."""
        one = LOGS_PATTERN + "/{log_id}"
        return [
            ("GET", LOGS_PATTERN, self.list),
            ("DELETE", LOGS_PATTERN, self.delete),
            ("GET", one, self.get),
            ("PATCH", one, self.patch),
            ("GET", one + "/request", self.request_body),
            ("GET", one + "/response", self.response_body),
        ]

    def _reader(self) -> LogStore:
        store = self._store()
        if store is None:
            raise _Refused(_error(501, 2010, "no log store is configured ([logs] stores names none that can be queried)"))
        return store

    async def _own(self, log_id: str, gateway: str) -> StoredLog:
        record = await self._reader().get(log_id)
        if record is None or record.gateway != gateway:  # another gateway's log does not exist here
            raise _Refused(_error(404, 2001, f"no log {log_id!r} on gateway {gateway!r}"))
        return record

    async def list(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`GET …/logs`: a page of logs, newest first unless `direction=asc`."""
        return await _answer(self._list(request, ctx.name))

    async def _list(self, request: Request, gateway: str) -> HttpResponse:
        query, _ = parse_filters(request.query, gateway, paging=True)
        page = await self._reader().query(query)
        info = {"count": len(page.records), "per_page": query.limit, "cursor": page.next_cursor}
        return _ok([log_to_api(r) for r in page.records], info)

    async def delete(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`DELETE …/logs?filters`: delete every matching log of this gateway; with no filter
        only when `all=true` is said."""
        return await _answer(self._delete(request, ctx.name))

    async def _delete(self, request: Request, gateway: str) -> HttpResponse:
        pairs = parse_qsl(request.query, keep_blank_values=True)
        everything = ("all", "true") in pairs
        query, filtered = parse_filters(urlencode([p for p in pairs if p[0] != "all"]), gateway, paging=False)
        if not filtered and not everything:
            raise BadRequest("name at least one filter, or all=true to delete every log of this gateway")
        store = self._reader()
        if not isinstance(store, LogEditor):
            return _error(501, 2010, f"the {store.name!r} log store cannot delete logs")
        deleted = await store.delete(query)
        return _ok({"deleted": deleted})

    async def get(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`GET …/logs/{id}`: one log with its bodies (text, or base64 when binary)."""
        return await _answer(self._get(params["log_id"], ctx.name))

    async def _get(self, log_id: str, gateway: str) -> HttpResponse:
        return _ok(log_to_api(await self._own(log_id, gateway), bodies=True))

    async def request_body(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`GET …/logs/{id}/request`: the request body as stored, with its content type."""
        return await _answer(self._body(params["log_id"], ctx.name, "request"))

    async def response_body(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`GET …/logs/{id}/response`: the response body as stored, with its content type."""
        return await _answer(self._body(params["log_id"], ctx.name, "response"))

    async def _body(self, log_id: str, gateway: str, which: str) -> HttpResponse:
        record = await self._own(log_id, gateway)
        body = getattr(record, f"{which}_body")
        if body is None:
            return _error(404, 2001, f"the {which} body of log {log_id!r} was not stored")
        content_type = getattr(record, f"{which}_content_type") or "application/octet-stream"
        return HttpResponse(200, body, content_type=content_type)

    async def patch(self, request: Request, params: Mapping[str, str], ctx: Any) -> HttpResponse:
        """`PATCH …/logs/{id}` with `{"feedback", "score", "metadata"}` (each optional)."""
        return await _answer(self._patch(request, params["log_id"], ctx.name))

    async def _patch(self, request: Request, log_id: str, gateway: str) -> HttpResponse:
        raw = await request.read()
        if len(raw) > MAX_PATCH_BYTES:
            raise BadRequest(f"the body is larger than {MAX_PATCH_BYTES} bytes")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BadRequest("the body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadRequest("the body must be a JSON object")
        unknown = set(body) - {"feedback", "score", "metadata"}
        if unknown:
            raise BadRequest(f"unknown field(s) {', '.join(sorted(unknown))} (known: feedback, score, metadata)")
        changes = LogPatch(body.get("feedback"), body.get("score"), body.get("metadata"))
        store = self._reader()
        await self._own(log_id, gateway)
        if not isinstance(store, LogEditor):
            return _error(501, 2010, f"the {store.name!r} log store cannot be annotated")
        try:
            updated = await store.patch(log_id, changes)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
        if updated is None:
            return _error(404, 2001, f"no log {log_id!r} on gateway {gateway!r}")
        return _ok(log_to_api(updated))


class _Refused(Exception):
    """An answer to give instead of going on (not found, no store)."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


async def _answer(work: Any) -> HttpResponse:
    """Await a handler's work; a client mistake is a 400 (2010), a refusal its own answer."""
    try:
        return await work
    except BadRequest as err:
        return _error(err.status, err.code, err.message)
    except ValueError as err:  # the store's validation (validate_query / validate_patch)
        return _error(400, BadRequest.code, str(err))
    except _Refused as refused:
        return refused.response
