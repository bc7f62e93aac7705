"""Event loop factories for the CLI: "auto" (uvloop when installed), "uvloop", "asyncio".

Only the command line picks a loop; the library runs on whatever loop is running and never
installs a loop policy. ``run`` uses ``asyncio.Runner(loop_factory=...)``, which creates the
loop without touching the global policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["LOOPS", "loop_factory", "run"]

T = TypeVar("T")


def _uvloop() -> asyncio.AbstractEventLoop:
    import uvloop

    return uvloop.new_event_loop()


def _auto() -> asyncio.AbstractEventLoop:
    try:
        return _uvloop()
    except ImportError:
        return asyncio.new_event_loop()


#: name -> factory returning a new event loop.
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "auto": _auto,
    "uvloop": _uvloop,
    "asyncio": asyncio.new_event_loop,
}


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The factory registered under `name`; ValueError names the choices otherwise."""
    try:
        return LOOPS[name]
    except KeyError:
        raise ValueError(f"unknown event loop {name!r}; choose one of {', '.join(LOOPS)}") from None


def run(main: Coroutine[Any, Any, T], loop: str = "auto") -> T:
    """Run `main` to completion on a new loop made by the factory named `loop`."""
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        return runner.run(main)
