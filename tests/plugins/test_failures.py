"""A broken plugin stops start-up with a PluginError that names it (and its distribution)."""

from __future__ import annotations

import pytest
from plugin_site import provider_plugin

from aigw.errors import PluginError
from aigw.plugins import PluginManager


def load(enabled=("*",), *, builtins=()) -> PluginManager:
    return PluginManager(enabled, builtins=builtins, environ={}).load()


def test_an_entry_point_that_fails_to_import_names_plugin_distribution_and_version(site):
    site.module("broken_import", "import no_such_dependency_xyz\n")
    site.distribution("aigw-broken", "2.3.4", {"broken": "broken_import"})
    with pytest.raises(PluginError, match=r"plugin 'broken' \(aigw-broken 2\.3\.4\) failed to import") as err:
        load(["broken"])
    assert "no_such_dependency_xyz" in str(err.value)


def test_an_entry_point_naming_a_missing_attribute_fails_like_an_import(site):
    site.module("no_attr", "x = 1\n")
    site.distribution("aigw-noattr", "1.0", {"noattr": "no_attr:missing"})
    with pytest.raises(PluginError, match=r"'noattr' \(aigw-noattr 1\.0\) failed to import 'no_attr:missing'"):
        load(["noattr"])


def test_a_builtin_that_fails_to_import_names_its_module(site):
    module = site.module("broken_builtin", "raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match=r"built-in plugin 'broken_builtin' \(aigw .*\) failed to import.*boom at import"):
        load([], builtins=(module,))


def test_a_broken_plugin_that_is_not_enabled_does_not_stop_start_up(site):
    site.module("broken_but_off", "raise RuntimeError('imported')\n")
    site.distribution("someone-elses", "1.0", {"off": "broken_but_off"})
    assert "off" not in load(["*"]).loaded()


def test_two_plugins_registering_the_same_provider_name_stop_start_up_naming_both(site):
    first = site.module("dup_first", provider_plugin("shared"))
    second = site.module("dup_second", provider_plugin("shared"))
    pm = load([], builtins=(first, second))
    with pytest.raises(PluginError) as err:
        pm.registries()
    message = str(err.value)
    assert "provider 'shared' is registered twice" in message
    assert "'dup_first'" in message and "'dup_second'" in message


def test_an_entry_point_provider_clashing_with_a_builtin_names_the_distribution(site):
    site.module("aigw_clash", provider_plugin("openai"))
    site.distribution("aigw-clash", "0.9", {"clash": "aigw_clash"})
    pm = load(["clash"], builtins=("aigw.builtins.providers",))
    with pytest.raises(PluginError, match=r"'aigw.builtins.providers' \(aigw .*\) and by plugin 'clash' \(aigw-clash 0\.9\)"):
        pm.registries()


def test_two_plugins_registering_the_same_route_stop_start_up_naming_both(site):
    source = """
        from aigw import hookimpl

        async def handler(request):
            return None

        @hookimpl
        def register_routes(register):
            register("GET", "/health", handler)
    """
    first, second = site.module("route_a", source), site.module("route_b", source)
    with pytest.raises(PluginError, match=r"route GET /health is registered twice: by plugin 'route_a' .* and by plugin 'route_b'"):
        load([], builtins=(first, second)).registries()


def test_a_plugin_implementing_an_unknown_hook_stops_start_up_naming_it(site):
    site.module(
        "aigw_typo",
        """
        from aigw import hookimpl

        @hookimpl
        def register_provider(register):  # missing "s"
            pass
        """,
    )
    site.distribution("aigw-typo", "1.0", {"typo": "aigw_typo"})
    with pytest.raises(PluginError, match=r"plugin 'typo' \(aigw-typo 1\.0\) implements unknown hook\(s\): register_provider$"):
        load(["typo"])


def test_a_hook_asking_for_an_argument_the_spec_lacks_stops_start_up_naming_it(site):
    module = site.module(
        "bad_args",
        """
        from aigw import hookimpl

        @hookimpl
        def register_providers(register, settings):
            pass
        """,
    )
    with pytest.raises(PluginError, match=r"(?s)plugin 'bad_args' .* is invalid.*settings"):
        load([], builtins=(module,))


def test_a_hook_that_raises_stops_start_up_naming_the_plugin_and_hook(site):
    module = site.module(
        "raises_in_hook",
        """
        from aigw import hookimpl

        @hookimpl
        def register_loggers(register):
            raise ValueError("bad logger config")
        """,
    )
    with pytest.raises(PluginError, match=r"'raises_in_hook' .* failed in register_loggers: ValueError\('bad logger config'\)"):
        load([], builtins=(module,)).registries()


def test_a_registration_with_an_invalid_name_names_the_plugin(site):
    module = site.module("bad_name", provider_plugin("has space"))
    with pytest.raises(PluginError, match=r"plugin 'bad_name' .* invalid name 'has space'"):
        load([], builtins=(module,)).registries()


def test_two_distributions_with_the_same_entry_point_name_stop_start_up_naming_both(site):
    site.module("aigw_one", provider_plugin("one"))
    site.module("aigw_two", provider_plugin("two"))
    site.distribution("aigw-one", "1.0", {"same": "aigw_one"})
    site.distribution("aigw-two", "1.0", {"same": "aigw_two"})
    with pytest.raises(PluginError, match=r"two plugins are named 'same': .*aigw-one.* and .*aigw-two"):
        load(["same"])
