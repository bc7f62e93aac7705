"""The engine every provider simulator builds on: lifecycle, recording, auth, knobs and faults.

A simulator is one aiohttp application on its own loopback port, like one provider host. A
provider module subclasses ``Simulator`` and supplies its routes, its auth rule and its error
shapes; this module turns those into responses and applies the test knobs uniformly:

* ``latency`` before the first byte of every response, ``chunks`` / ``chunk_delay`` for streams;
* ``fail_next(status, count)`` and the magic triggers (model name ``sim-fail-429[-x2]`` or header
  ``x-sim-fail: 429[-x2]``) answer with the provider's own error body and headers;
* ``fault_next(kind, after=…)`` and the triggers ``sim-fault-<kind>[-after-<k>]`` /
  ``x-sim-fault: <kind>[-after-<k>]`` break the wire: ``reset`` (TCP RST), ``malformed`` (an
  unparseable frame, stream goes on), ``stall`` (stops sending, keeps the socket open),
  ``error`` (the provider's mid-stream error event, then the end), ``slow_headers`` (the status
  line and each header line trickle out ``delay`` seconds apart).

Knob methods may be called from any thread (the pytest fixtures run the servers in a thread).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import socket
import struct
import threading
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, ClassVar, Literal, get_args

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from . import _text

FaultKind = Literal["reset", "malformed", "stall", "error", "slow_headers"]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)

FAIL_HEADER = "x-sim-fail"
FAULT_HEADER = "x-sim-fault"
_FAIL_MODEL = re.compile(r"sim-fail-(\d{3})(?:-x(\d+))?")
_FAULT_MODEL = re.compile(r"sim-fault-(" + "|".join(FAULT_KINDS) + r")(?:-after-(\d+))?")
_FAIL_VALUE = re.compile(r"\s*(\d{3})(?:-x(\d+))?\s*")
_FAULT_VALUE = re.compile(r"\s*(" + "|".join(FAULT_KINDS) + r")(?:-after-(\d+))?\s*")

SSE_CONTENT_TYPE = "text/event-stream; charset=utf-8"
# Request bodies that are not JSON by design (audio to transcribe, multipart forms): a handler
# reads them from the request (``RecordedRequest.body``) instead of ``Call.body``. Not
# application/octet-stream: boto3 sends JSON for Bedrock under that type.
_BINARY_TYPES = ("audio/", "image/", "video/", "multipart/")
MAX_BODY = 16 * 1024 * 1024

Frame = tuple[bytes, bool]
"""One wire write of a stream: the bytes and whether it carries reply content (a "chunk")."""

_DEFAULT_MESSAGES = {
    400: "Simulated bad request",
    401: "Simulated invalid API key",
    403: "Simulated permission denied",
    404: "Simulated resource not found",
    429: "Simulated rate limit exceeded",
    500: "Simulated internal server error",
    503: "Simulated service unavailable",
    529: "Overloaded",
}


@dataclass(frozen=True)
class Fault:
    """A wire fault for one response: ``kind`` fires once ``after`` content chunks were sent."""

    kind: FaultKind
    after: int = 1
    delay: float = 0.05


@dataclass(frozen=True)
class RecordedRequest:
    """What the simulator received, as it arrived (headers are case-insensitive)."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes

    def json(self) -> Any:
        """Return the body parsed as JSON (raises ``ValueError`` if it is not JSON)."""
        return json.loads(self.body)


@dataclass
class Call:
    """One admitted request: parsed body, model, streaming flag and the fault to apply."""

    request: web.Request
    body: dict[str, Any]
    model: str
    seq: int
    fault: Fault | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def stream(self) -> bool:
        """Whether the body asked for a stream (``"stream": true``)."""
        return self.body.get("stream") is True

    @property
    def id(self) -> str:
        """A deterministic per-simulator request id suffix, e.g. ``sim000003``."""
        return f"sim{self.seq:06d}"


def dumps(obj: Any) -> str:
    """Compact JSON as providers send it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def sse(data: Any, *, event: str | None = None, eol: str = "\n") -> bytes:
    """Return one complete SSE frame; ``data`` that is not a str is JSON-encoded."""
    text = data if isinstance(data, str) else dumps(data)
    head = f"event: {event}{eol}" if event is not None else ""
    return f"{head}data: {text}{eol}{eol}".encode()


def sse_comment(text: str, *, eol: str = "\n") -> bytes:
    """Return an SSE comment line followed by a blank line (a keep-alive)."""
    return f": {text}{eol}{eol}".encode()


def endpoint(
    fn: Callable[[Any, Call], Awaitable[web.StreamResponse]],
) -> Callable[[Any, web.Request], Awaitable[web.StreamResponse]]:
    """Wrap a provider handler: record, authenticate, parse, apply fail triggers, pick a fault."""

    @functools.wraps(fn)
    async def handler(self: Simulator, request: web.Request) -> web.StreamResponse:
        admitted = await self._admit(request)
        if isinstance(admitted, web.StreamResponse):
            return admitted
        return await fn(self, admitted)

    return handler


class Simulator:
    """Base class of every provider simulator: an aiohttp app with knobs, faults and recording.

    Constructor knobs (all also plain attributes, restored by ``reset()``):
    ``key`` the one valid API key; ``chunks`` content pieces per stream; ``chunk_delay``
    seconds between content pieces; ``latency`` seconds before the first byte of any response;
    ``reply`` fixed reply text (default: echo the last user message); ``retry_after`` value of
    the ``retry-after`` header on 429/529 where the provider sends one.
    """

    slug: ClassVar[str] = ""
    default_key: ClassVar[str] = ""
    base_path: ClassVar[str] = ""
    sse_eol: ClassVar[str] = "\n"

    def __init__(
        self,
        *,
        key: str | None = None,
        chunks: int = 3,
        chunk_delay: float = 0.0,
        latency: float = 0.0,
        reply: str | None = None,
        retry_after: float = 1.0,
    ) -> None:
        self.key = key or self.default_key
        self.chunks = chunks
        self.chunk_delay = chunk_delay
        self.latency = latency
        self.reply = reply
        self.retry_after = retry_after
        self._defaults = dict(vars(self))
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._failures: deque[tuple[int, str | None]] = deque()
        self._faults: deque[Fault] = deque()
        self._trigger_hits: Counter[str] = Counter()
        self._seq = 0
        #: Streams whose client went away before the last frame (e.g. a cancelled request).
        self.streams_aborted = 0
        #: Streams that ended on the simulator's side (all frames sent, or a fault fired).
        self.streams_finished = 0
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self.host = "127.0.0.1"
        self.port: int | None = None

    # ---- knobs -------------------------------------------------------------------------------

    def fail_next(self, status: int, count: int = 1, *, message: str | None = None) -> None:
        """Make the next ``count`` admitted requests fail with ``status`` and the provider's body.

        Requests after those succeed, so ``fail_next(500, count=2)`` means "fails twice, then
        answers". A request with a bad key still gets the auth error and does not consume one.
        """
        with self._lock:
            self._failures.extend([(status, message)] * count)

    def fault_next(
        self, kind: FaultKind, count: int = 1, *, after: int = 1, delay: float = 0.05
    ) -> None:
        """Apply the wire fault ``kind`` to the next ``count`` successful responses.

        ``after`` is the number of content chunks sent before the fault fires (0 = right after
        the headers); ``delay`` is the pause between header lines for ``slow_headers``.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._faults.extend([Fault(kind, after, delay)] * count)

    def reset(self) -> None:
        """Forget recorded requests, pending failures/faults and trigger counters; restore knobs."""
        with self._lock:
            self._failures.clear()
            self._faults.clear()
            self._trigger_hits.clear()
            self.requests.clear()
            self.streams_aborted = self.streams_finished = 0
        for name, value in self._defaults.items():
            setattr(self, name, value)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent recorded request (``IndexError`` if none arrived)."""
        return self.requests[-1]

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server root, ``http://127.0.0.1:PORT`` (only once started)."""
        if self.port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def base_url(self) -> str:
        """The base URL a gateway (or SDK) should be configured with for this provider."""
        return self.url + self.base_path

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0 = a free port) in the running loop."""
        self._stopping = asyncio.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        self.host, self.port = host, sock.getsockname()[1]
        self._runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Release stalled streams, close connections and free the port."""
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def make_app(self) -> web.Application:
        """Build the aiohttp application: the provider routes plus a provider-shaped 404."""
        app = web.Application(client_max_size=MAX_BODY)
        app.add_routes(self.routes())
        app.router.add_route("*", "/{tail:.*}", self._unknown_path)
        return app

    # ---- provider hooks ----------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """The provider's routes (handlers decorated with ``endpoint``)."""
        raise NotImplementedError

    def check_auth(self, request: web.Request) -> web.Response | None:
        """Return the provider's auth error response, or None when the key is valid."""
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> tuple[Any, dict[str, str]]:
        """The provider's error JSON (or text) for ``status`` and extra response headers."""
        raise NotImplementedError

    def model_of(self, request: web.Request, body: dict[str, Any]) -> str:
        """The model a request names (body ``model`` unless the provider puts it in the path)."""
        model = body.get("model")
        return model if isinstance(model, str) else ""

    def provider_options(self) -> dict[str, Any]:
        """Extra ``[providers.<slug>]`` options a gateway needs to reach this simulator (besides
        ``base_url`` and ``key``). Default: none."""
        return {}

    def response_headers(self, call: Call | None) -> dict[str, str]:
        """Headers on every response (request ids, rate-limit state)."""
        return {}

    def rate_limit_headers(self) -> dict[str, str]:
        """Extra headers on a 429 (the provider's rate-limit headers and ``retry-after``)."""
        return {"retry-after": _seconds(self.retry_after)}

    def stream_error_frame(self, call: Call) -> bytes:
        """The provider's mid-stream error event (sent inside a 200 stream)."""
        error = {"message": "Simulated mid-stream error", "type": "server_error", "param": None}
        return sse({"error": {**error, "code": None}}, eol=self.sse_eol)

    def malformed_frame(self, call: Call) -> bytes:
        """A frame no client can parse: an SSE data line with truncated JSON."""
        eol = self.sse_eol
        return f'data: {{"id":"{call.id}","choices":[{{"delta":{eol}{eol}'.encode()

    # ---- shared answers ----------------------------------------------------------------------

    def error_response(self, status: int, message: str | None = None) -> web.Response:
        """The provider-shaped error for ``status`` (with rate-limit headers on 429)."""
        body, headers = self.error_body(status, message or _DEFAULT_MESSAGES.get(status, "Error"))
        headers = {**self.response_headers(None), **headers}
        if status == 429:
            headers = {**headers, **self.rate_limit_headers()}
        reason = _reason(status)
        if isinstance(body, str):
            return web.Response(status=status, reason=reason, text=body, headers=headers)
        return web.Response(
            status=status,
            reason=reason,
            text=dumps(body),
            content_type="application/json",
            headers=headers,
        )

    def bearer_key(self, request: web.Request) -> str | None:
        """The token of an ``Authorization: Bearer …`` header, if any."""
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def reply_text(self, prompt_reply: str) -> str:
        """The reply for a request whose last user message is ``prompt_reply``."""
        if self.reply is not None:
            return self.reply
        return prompt_reply or _text.EMPTY_PROMPT_REPLY

    def pieces(self, text: str) -> list[str]:
        """The reply split into this simulator's ``chunks`` pieces."""
        return _text.split_reply(text, self.chunks)

    async def send_json(
        self, call: Call, obj: Any, *, status: int = 200, prefix: bytes = b""
    ) -> web.StreamResponse:
        """Answer with JSON ``obj`` (after ``latency``), applying the request's fault if any."""
        body = prefix + dumps(obj).encode()
        headers = {**self.response_headers(call), "Content-Type": "application/json"}
        await self._first_byte_wait()
        fault = call.fault
        if fault is None:
            return web.Response(status=status, body=body, headers=headers)
        if fault.kind == "slow_headers":
            return await self._send_raw_slowly(call.request, status, headers, body, fault.delay)
        if fault.kind == "error":
            return self.error_response(500)
        half = body[: len(body) // 2]
        if fault.kind == "malformed":
            return web.Response(status=status, body=half, headers=headers)
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = len(body)
        await resp.prepare(call.request)
        await resp.write(half)
        if fault.kind == "stall":
            await self._stall(call.request)
        _reset_connection(call.request)
        return resp

    async def send_stream(
        self, call: Call, frames: list[Frame], *, content_type: str = SSE_CONTENT_TYPE
    ) -> web.StreamResponse:
        """Stream ``frames`` (after ``latency``, ``chunk_delay`` between content frames)."""
        headers = {
            **self.response_headers(call),
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
        }
        await self._first_byte_wait()
        fault = call.fault
        if fault is not None and fault.kind == "slow_headers":
            body = b"".join(data for data, _ in frames)
            return await self._send_raw_slowly(call.request, 200, headers, body, fault.delay)
        resp = web.StreamResponse(status=200, headers=headers)
        await resp.prepare(call.request)
        try:
            await self._write_frames(call, resp, frames)
        except ConnectionError:
            self.streams_aborted += 1  # the client went away mid-stream; nothing left to do
        else:
            self.streams_finished += 1
        return resp

    async def _write_frames(
        self, call: Call, resp: web.StreamResponse, frames: list[Frame]
    ) -> None:
        sent_content = 0
        pending = call.fault
        for index in range(len(frames) + 1):
            if pending is not None and sent_content >= pending.after:
                fault, pending = pending, None
                if not await self._fire(call, resp, fault):
                    return
            if index == len(frames):
                break
            data, is_content = frames[index]
            if is_content and sent_content and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            await resp.write(data)
            sent_content += is_content
        await resp.write_eof()

    # ---- internals ---------------------------------------------------------------------------

    async def _fire(self, call: Call, resp: web.StreamResponse, fault: Fault) -> bool:
        """Apply a stream fault; return whether the stream should go on."""
        if fault.kind == "malformed":
            await resp.write(self.malformed_frame(call))
            return True
        if fault.kind == "error":
            await resp.write(self.stream_error_frame(call))
            await resp.write_eof()
            return False
        if fault.kind == "stall":
            await self._stall(call.request)
        _reset_connection(call.request)
        return False

    async def _admit(self, request: web.Request) -> Call | web.StreamResponse:
        body_bytes = await request.read()
        self._record(request, body_bytes)
        denied = self.check_auth(request)
        if denied is not None:
            await self._first_byte_wait()
            return denied
        body: dict[str, Any] = {}
        if body_bytes and not request.content_type.startswith(_BINARY_TYPES):
            try:
                parsed = json.loads(body_bytes)
            except (ValueError, RecursionError):  # too deep for the parser: still the client's mistake
                parsed = None
            if not isinstance(parsed, dict):
                await self._first_byte_wait()
                return self.error_response(400, "Request body is not a JSON object")
            body = parsed
        model = self.model_of(request, body)
        with self._lock:
            self._seq += 1
            seq = self._seq
            failure = self._failures.popleft() if self._failures else None
            fault = self._faults.popleft() if self._faults else None
        if failure is None:
            failure = self._triggered_failure(request, model)
        if failure is not None:
            await self._first_byte_wait()
            return self.error_response(*failure)
        if fault is None:
            fault = _triggered_fault(request, model)
        return Call(request=request, body=body, model=model, seq=seq, fault=fault)

    def _record(self, request: web.Request, body: bytes) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            raw_path=request.raw_path,
            query=dict(request.query),
            headers=CIMultiDictProxy(CIMultiDict(request.headers)),
            body=body,
        )
        with self._lock:
            self.requests.append(recorded)

    def _triggered_failure(self, request: web.Request, model: str) -> tuple[int, str | None] | None:
        header = request.headers.get(FAIL_HEADER)
        match = _FAIL_VALUE.fullmatch(header) if header else None
        key = f"header:{header}"
        if match is None:
            match = _FAIL_MODEL.search(model)
            key = f"model:{model}"
        if match is None:
            return None
        status, times = int(match[1]), match[2]
        if times is not None:
            with self._lock:
                self._trigger_hits[key] += 1
                if self._trigger_hits[key] > int(times):
                    return None
        return status, None

    async def _unknown_path(self, request: web.Request) -> web.StreamResponse:
        self._record(request, await request.read())
        return self.error_response(404, f"Unknown request URL: {request.method} {request.path}")

    async def _first_byte_wait(self) -> None:
        if self.latency > 0:
            await asyncio.sleep(self.latency)

    async def _stall(self, request: web.Request) -> None:
        """Send nothing until the client goes away or the simulator stops."""
        transport = request.transport
        stopping = self._stopping
        assert stopping is not None
        while transport is not None and not transport.is_closing() and not stopping.is_set():
            try:
                await asyncio.wait_for(stopping.wait(), 0.05)
            except TimeoutError:
                pass

    async def _send_raw_slowly(
        self, request: web.Request, status: int, headers: dict[str, str], body: bytes, delay: float
    ) -> web.StreamResponse:
        """Write the whole response by hand, one header line per ``delay``, then close."""
        transport = request.transport
        assert transport is not None
        lines = [f"HTTP/1.1 {status} {_reason(status)}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers.items()]
        lines += [f"Content-Length: {len(body)}\r\n", "Connection: close\r\n", "\r\n"]
        for line in lines:
            if transport.is_closing():
                break
            transport.write(line.encode("latin-1"))
            await asyncio.sleep(delay)
        if not transport.is_closing():
            transport.write(body)
            transport.close()
        # aiohttp's own attempt to send this placeholder meets the closed transport and stops.
        return web.Response()


def _triggered_fault(request: web.Request, model: str) -> Fault | None:
    header = request.headers.get(FAULT_HEADER)
    match = _FAULT_VALUE.fullmatch(header) if header else None
    if match is None:
        match = _FAULT_MODEL.search(model)
    if match is None:
        return None
    return Fault(match[1], int(match[2]) if match[2] else 1)  # type: ignore[arg-type]


def _reset_connection(request: web.Request) -> None:
    """Abort the connection with a TCP RST (SO_LINGER 0) so the peer sees a reset, not EOF."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def _reason(status: int) -> str:
    if status == 529:
        return "Overloaded"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
