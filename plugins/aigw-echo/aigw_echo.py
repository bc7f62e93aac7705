"""aigw-echo: an `echo` provider whose upstream is an endpoint the same plugin adds to the gateway.

The provider is an ordinary OpenAI-style HTTP provider. Its base URL is the gateway's own
``/__echo`` route (registered below), so a call to provider "echo" takes the whole upstream
path (request building, the upstream client, SSE framing, usage extraction, retries) without
any network beyond loopback. The endpoint answers ``POST /__echo/chat/completions`` with the
last user message, word by word, as OpenAI ``chat.completion.chunk`` events (or one
``chat.completion`` body), and always reports usage.

Config (``[providers.echo]``): ``pace_ms`` (delay before each streamed word, default 0),
``base_url`` (default: the gateway's own address + ``/__echo``).
Per-request headers a client may send (forwarded to the endpoint): ``x-aigw-echo-pace-ms``,
``x-aigw-echo-status`` (answer with this error status instead), ``x-aigw-echo-retry-after``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from typing import Any, AsyncIterator, Mapping

import orjson

from aigw import Call, ConfigError, HttpRequest, HttpResponse, PluginContext, hookimpl
from aigw.providers import HttpProvider

ECHO_PATH = "/__echo"
MAX_PACE_MS = 10_000
PACE_HEADER = "x-aigw-echo-pace-ms"
STATUS_HEADER = "x-aigw-echo-status"
RETRY_AFTER_HEADER = "x-aigw-echo-retry-after"
_WORD = re.compile(r"\s*\S+")


# ---- hooks ----


@hookimpl
def register_providers(register) -> None:
    """Provider "echo"."""
    register("echo", EchoProvider.from_context)


@hookimpl
def register_routes(register) -> None:
    """Its upstream: the echo endpoint, served by the gateway itself. Public (no gateway token):
    the echo provider calls it over loopback like any upstream, without a gateway token, and it
    only repeats what the caller sent; `aigw plugins` shows it as public."""
    register("POST", f"{ECHO_PATH}/chat/completions", chat_completions, public=True)


# ---- the provider ----


class EchoProvider(HttpProvider):
    """An OpenAI chat-completions provider whose upstream is the echo endpoint. Everything but
    the pace header is aigw.providers.HttpProvider's: header hygiene, Bearer key injection,
    SSE framing, OpenAI usage, the common retry verdict (408/409/429/529/5xx, Retry-After)."""

    name = "echo"

    def __init__(self, base_url: str, pace_ms: int = 0) -> None:
        super().__init__("echo", base_url)
        self.pace_ms = pace_ms

    @classmethod
    def from_context(cls, ctx: PluginContext) -> EchoProvider:
        """Build from ``[providers.echo]``; the default upstream is this gateway's /__echo."""
        pace = ctx.config.get("pace_ms", 0)
        if not isinstance(pace, int) or isinstance(pace, bool) or not 0 <= pace <= MAX_PACE_MS:
            raise ConfigError(f"providers.{ctx.name}.pace_ms must be an integer from 0 to {MAX_PACE_MS}, not {pace!r}")
        base_url = ctx.config.get("base_url") or gateway_url(ctx.settings) + ECHO_PATH
        return cls(base_url, pace)

    def add_headers(self, call: Call, headers: list[tuple[str, str]]) -> None:
        """The configured pace, unless the client sent its own ``x-aigw-echo-pace-ms``."""
        if PACE_HEADER not in call.headers:
            headers.append((PACE_HEADER, str(self.pace_ms)))


def gateway_url(settings: Any) -> str:
    """http(s)://host:port of the gateway described by `settings` (a wildcard listen address
    becomes loopback); http://127.0.0.1:8787 when settings say nothing."""
    server = _get(settings, "server")
    host = _get(server, "host") or "127.0.0.1"
    port = _get(server, "port") or 8787
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if _get(server, "tls_cert") else "http"
    return f"{scheme}://{host}:{port}"


def _get(obj: Any, key: str) -> Any:
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


# ---- the endpoint ----


async def chat_completions(request: HttpRequest) -> HttpResponse:
    """Echo the last user message as an OpenAI chat completion (streamed if asked)."""
    scripted = _int_header(request.headers, STATUS_HEADER, 400, 599)
    if scripted is not None:
        headers = [("content-type", "application/json")]
        if RETRY_AFTER_HEADER in request.headers:
            headers.append(("retry-after", request.headers[RETRY_AFTER_HEADER]))
        return _error(scripted, "scripted error from x-aigw-echo-status", "echo_scripted_error", headers)
    doc = _loads(request.body)
    messages = doc.get("messages") if isinstance(doc, dict) else None
    if not isinstance(messages, list):
        return _error(400, "body must be a JSON object with a 'messages' list", "invalid_request_error")
    pieces = _WORD.findall(_last_user_text(messages))
    usage = {
        "prompt_tokens": sum(len(_text(m).split()) for m in messages if isinstance(m, dict)),
        "completion_tokens": len(pieces),
    }
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    pace = (_int_header(request.headers, PACE_HEADER, 0, MAX_PACE_MS) or 0) / 1000
    model = doc.get("model") if isinstance(doc.get("model"), str) else "echo"
    head = {"id": f"chatcmpl-echo-{uuid.uuid4().hex}", "created": int(time.time()), "model": model}
    if doc.get("stream") is True:
        return HttpResponse(
            200,
            [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
            _stream(head, pieces, usage, pace),
        )
    await asyncio.sleep(pace)
    body = {
        **head,
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(pieces)},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage,
    }
    return HttpResponse(200, [("content-type", "application/json")], orjson.dumps(body))


async def _stream(head: dict, pieces: list[str], usage: dict, pace: float) -> AsyncIterator[bytes]:
    def event(choices: list, usage: dict | None = None) -> bytes:
        chunk = {**head, "object": "chat.completion.chunk", "choices": choices, "usage": usage}
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def choice(delta: dict, finish: str | None = None) -> list:
        return [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]

    yield event(choice({"role": "assistant", "content": ""}))
    for piece in pieces:
        if pace:
            await asyncio.sleep(pace)
        yield event(choice({"content": piece}))
    yield event(choice({}, "stop"))
    yield event([], usage)
    yield b"data: [DONE]\n\n"


def _last_user_text(messages: list) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _text(message)
    return ""


def _text(message: dict) -> str:
    """A message's text: a string, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _int_header(headers: Mapping[str, str], name: str, low: int, high: int) -> int | None:
    value = headers.get(name)
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return min(max(number, low), high) if number is not None else None


def _error(status: int, message: str, kind: str, headers: list | None = None) -> HttpResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return HttpResponse(status, headers or [("content-type", "application/json")], orjson.dumps(body))


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None

