"""Fixtures for the plugin tests: a temp site on sys.path, a runner for both event loops."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest
import uvloop
from plugin_site import Site

from aigw.testing.plugins import plugin_manager, pytest_configure  # noqa: F401  (fixture, marker)

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """A fresh directory on sys.path to put plugin modules and distributions in."""
    root = tmp_path / "site"
    root.mkdir()
    # Not syspath_prepend: it calls pkg_resources, which kosoku shadows with a partial shim.
    monkeypatch.setattr(sys, "path", [str(root), *sys.path])
    importlib.invalidate_caches()
    yield Site(root)
    for name, module in list(sys.modules.items()):  # forget modules imported from here
        if str(getattr(module, "__file__", None) or "").startswith(str(root)):
            del sys.modules[name]


@pytest.fixture(params=list(LOOPS))
def run(request) -> Callable:
    """Run a coroutine to completion on a fresh loop; parametrized over asyncio and uvloop."""

    def run(coro):
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as runner:
            return runner.run(coro)

    return run
