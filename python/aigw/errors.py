"""One exception tree. Each gateway error maps to an HTTP status and a Cloudflare-style code."""

from __future__ import annotations

import os
import traceback


class AigwError(Exception):
    """Base of every error aigw raises on purpose."""

    status: int = 500
    code: int = 2005

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def body(self) -> dict:
        """The Cloudflare-style error body for clients."""
        return {
            "success": False,
            "result": None,
            "messages": [],
            "errors": [{"code": self.code, "message": self.message}],
        }


def http_error_body(status: int, code: int, message: str) -> dict:
    """The gateway's own error as an HTTP body, one shape for every HTTP answer (front door and
    doors alike) that both of Cloudflare's readers understand: the v4 API's `errors` list and
    the AI Gateway's `AiGatewayError` fields (`error`, `name`, `httpCode`, `internalCode`,
    `message`; cloudflare-aigw.md §7)."""
    entry = [{"code": code, "message": message}]
    return {
        "success": False,
        "result": None,
        "messages": [],
        "errors": entry,
        "error": entry,
        "name": "AiGatewayError",
        "httpCode": status,
        "internalCode": code,
        "message": message,
    }


class ConfigError(AigwError):
    """The configuration is invalid; start-up stops."""


class PluginError(AigwError):
    """A plugin failed to load or registered something invalid; start-up stops."""


class GatewayNotFound(AigwError):
    status, code = 404, 2001


class RateLimited(AigwError):
    status, code = 429, 2003


class ProviderFailed(AigwError):
    """No step produced an answer (network errors, timeouts, exhausted retries)."""

    status, code = 502, 2005


class InvalidProvider(AigwError):
    status, code = 400, 2008


class Unauthorized(AigwError):
    status, code = 401, 2009


class BadRequest(AigwError):
    status, code = 400, 2010


class ByokAliasNotFound(AigwError):
    status, code = 400, 2040


class RequestTimeout(ProviderFailed):
    status, code = 504, 2007


def bug_report(exc: BaseException) -> str:
    """`exc` as one log line for a bug: its class and the frames it was raised through, never
    its message or arguments, which may carry a client's headers or body (a UnicodeEncodeError
    holds the whole string it could not encode)."""
    frames = [(frame.f_code, lineno) for frame, lineno in traceback.walk_tb(exc.__traceback__)]
    where = " < ".join(f"{os.path.basename(code.co_filename)}:{lineno} {code.co_name}" for code, lineno in reversed(frames))
    return f"{type(exc).__qualname__} at {where or 'an unknown place'}"
