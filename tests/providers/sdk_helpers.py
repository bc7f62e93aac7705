"""Helpers of the SDK tests: official clients pointed at a running gateway's provider routes.

The gateway runs on the test's event loop, so a blocking SDK call runs in a worker thread
(`blocking`) while the loop keeps serving it."""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, TypeVar

T = TypeVar("T")


async def blocking(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking SDK call in a thread; the gateway on this loop answers meanwhile."""
    return await asyncio.wait_for(asyncio.to_thread(functools.partial(fn, *args, **kwargs)), 20)


def provider_url(gw: Any, provider: str, *rest: str) -> str:
    """The provider route's base URL: ``http://…/v1/{account}/{gateway}/{provider}/…``."""
    return "/".join([gw.http_url, provider, *rest])


def httpx_without(*names: str, asynchronous: bool = False, module: str = "httpx") -> Any:
    """An httpx client that drops the named request headers before sending: for SDKs that
    always send a provider credential, when the test wants the gateway's stored key used.
    `module` is the httpx package the SDK is built on (anthropic's is `httpx2`)."""
    import importlib

    httpx = importlib.import_module(module)

    lowered = [n.lower() for n in names]

    def drop(request: Any) -> None:
        for name in lowered:
            request.headers.pop(name, None)

    if asynchronous:

        async def adrop(request: Any) -> None:
            drop(request)

        return httpx.AsyncClient(event_hooks={"request": [adrop]})
    return httpx.Client(event_hooks={"request": [drop]})
