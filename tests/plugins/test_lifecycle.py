"""gateway_startup / gateway_shutdown: load order, awaitables awaited, failures contained."""

from __future__ import annotations

import asyncio
import logging

import pytest

from aigw import PluginError, hookimpl
from aigw.testing.plugins import load_plugin_manager


class Recorder:
    """A plugin recording lifecycle calls into a shared list; async or sync on request."""

    def __init__(self, name: str, calls: list, *, is_async: bool = False, fail: str | None = None) -> None:
        self.__name__ = name
        self.calls, self.is_async, self.fail = calls, is_async, fail

    def _event(self, what: str, gateway):
        def record():
            self.calls.append((self.__name__, what, gateway))
            if self.fail == what:
                raise RuntimeError(f"{self.__name__} {what} failed")

        if not self.is_async:
            return record()

        async def later():
            await asyncio.sleep(0)
            record()

        return later()

    @hookimpl
    def gateway_startup(self, gateway):
        return self._event("startup", gateway)

    @hookimpl
    def gateway_shutdown(self, gateway):
        return self._event("shutdown", gateway)


def test_startup_runs_in_load_order_awaiting_each_awaitable_before_the_next(run):
    calls: list = []
    pm = load_plugin_manager(Recorder("a", calls, is_async=True), Recorder("b", calls), Recorder("c", calls, is_async=True), builtins=())
    run(pm.gateway_startup("gw"))
    assert calls == [("a", "startup", "gw"), ("b", "startup", "gw"), ("c", "startup", "gw")]


def test_shutdown_runs_in_reverse_load_order(run):
    calls: list = []
    pm = load_plugin_manager(Recorder("a", calls), Recorder("b", calls, is_async=True), builtins=())
    run(pm.gateway_startup("gw"))
    calls.clear()
    run(pm.gateway_shutdown("gw"))
    assert [c[0] for c in calls] == ["b", "a"]


def test_a_failing_startup_names_the_plugin_and_only_started_plugins_shut_down(run):
    calls: list = []
    pm = load_plugin_manager(
        Recorder("a", calls), Recorder("b", calls, is_async=True, fail="startup"), Recorder("c", calls), builtins=()
    )
    with pytest.raises(PluginError, match=r"'b' \(inline\) failed in gateway_startup: RuntimeError"):
        run(pm.gateway_startup("gw"))
    calls.clear()
    run(pm.gateway_shutdown("gw"))
    assert [c[0] for c in calls] == ["a"]


def test_a_failing_shutdown_is_logged_and_the_others_still_run(run, caplog):
    calls: list = []
    pm = load_plugin_manager(Recorder("a", calls), Recorder("b", calls, fail="shutdown"), builtins=())
    run(pm.gateway_startup("gw"))
    calls.clear()
    with caplog.at_level(logging.ERROR, logger="aigw.plugins"):
        run(pm.gateway_shutdown("gw"))
    assert [c[0] for c in calls] == ["b", "a"]
    assert "'b' (inline) failed in gateway_shutdown" in caplog.text


def test_shutdown_without_startup_calls_nothing(run):
    calls: list = []
    pm = load_plugin_manager(Recorder("a", calls), builtins=())
    run(pm.gateway_shutdown("gw"))
    assert calls == []
