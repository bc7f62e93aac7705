"""Which plugins load: built-ins by module name, entry points by the allow-list rule."""

from __future__ import annotations

import subprocess
import sys

import pytest

import aigw
from aigw.errors import PluginError
from aigw.plugins import BUILTIN_PLUGINS, PluginManager

from plugin_site import provider_plugin, requires_echo


def load(enabled=("*",), *, environ=None, builtins=(), **options) -> PluginManager:
    return PluginManager(enabled, builtins=builtins, environ=environ or {}, **options).load()


# ---- built-ins ----


@pytest.mark.parametrize("module", BUILTIN_PLUGINS)
def test_every_builtin_module_loads_under_its_module_name(module):
    pm = load([], builtins=(module,))
    assert pm.loaded()[0] == module
    assert [p.source for p in pm.list_plugins() if p.name == module] == ["builtin"]


def test_builtin_providers_are_registered_through_the_plugin_path():
    pm = load([], builtins=BUILTIN_PLUGINS)
    entry = pm.register_providers()["openai"]
    assert entry.plugin.startswith("'aigw.builtins.providers' (aigw ")


def test_a_builtin_is_registered_by_module_name_like_any_plugin(site):
    module = site.module("my_builtins.extra_provider", provider_plugin("extra"))
    pm = load([], builtins=(module,))
    assert pm.loaded() == ["my_builtins.extra_provider"]
    assert pm.register_providers()["extra"].plugin == f"'{module}' (aigw {aigw.__version__})"


def test_builtins_load_even_with_an_empty_enabled_list(site):
    module = site.module("always_on", provider_plugin("always"))
    assert load([], builtins=(module,)).loaded() == ["always_on"]


def test_disabling_a_builtin_by_name_skips_its_import(site):
    module = site.module("blocked_builtin", "raise RuntimeError('imported')\n")
    pm = load(builtins=(module,), environ={"AIGW_DISABLE_PLUGINS": "blocked_builtin"})
    assert "blocked_builtin" not in pm.loaded()
    assert "blocked_builtin" not in sys.modules


# ---- entry points: the real aigw-echo distribution ----


@requires_echo
def test_the_installed_aigw_echo_distribution_is_discovered_through_its_entry_point():
    (echo,) = [p for p in load().list_plugins() if p.name == "echo"]
    assert (echo.distribution, echo.source, echo.module, echo.enabled) == ("aigw-echo", "entry-point", "aigw_echo", True)
    assert echo.version
    assert echo.registers == {"providers": ["echo"], "routes": ["POST /__echo/chat/completions (public: no gateway token)"]}


@requires_echo
def test_an_installed_plugin_left_out_of_the_list_is_listed_but_never_imported():
    script = (
        "import sys; from aigw.plugins import PluginManager\n"
        "pm = PluginManager([], builtins=(), environ={}).load()\n"
        "(echo,) = [p for p in pm.list_plugins() if p.name == 'echo']\n"
        "print(echo.enabled, 'aigw_echo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# ---- entry points: the enabling rule, with real distributions in a temp site ----


def test_star_enables_first_party_aigw_distributions(site):
    site.module("aigw_widgets", provider_plugin("widgets"))
    site.distribution("aigw-widgets", "1.2.0", {"widgets": "aigw_widgets"})
    assert "widgets" in load(["*"]).loaded()


def test_star_does_not_enable_a_third_party_distribution_nor_import_it(site):
    site.module("thirdparty_spy", "raise RuntimeError('imported')\n")
    site.distribution("thirdparty", "1.0", {"spy": "thirdparty_spy"})
    pm = load(["*"])
    assert "spy" not in pm.loaded()
    assert "thirdparty_spy" not in sys.modules
    assert [p.enabled for p in pm.list_plugins() if p.name == "spy"] == [False]


def test_a_third_party_plugin_named_in_the_list_is_loaded(site):
    site.module("thirdparty_ok", provider_plugin("tp"))
    site.distribution("thirdparty", "1.0", {"tp": "thirdparty_ok"})
    assert "tp" in load(["*", "tp"]).loaded()


def test_a_plugin_may_be_enabled_by_its_distribution_name(site):
    site.module("thirdparty_dist", provider_plugin("tp"))
    site.distribution("Third_Party", "1.0", {"tp": "thirdparty_dist"})
    assert "tp" in load(["third-party"]).loaded()


def test_an_explicit_list_turns_off_first_party_plugins_it_does_not_name(site):
    site.module("aigw_first", "raise RuntimeError('imported')\n")
    site.module("aigw_second", provider_plugin("second"))
    site.distribution("aigw-first", "1.0", {"first": "aigw_first"})
    site.distribution("aigw-second", "1.0", {"second": "aigw_second"})
    pm = load(["second"])
    assert "second" in pm.loaded() and "first" not in pm.loaded()
    assert "aigw_first" not in sys.modules


def test_aigw_plugins_replaces_the_configured_list(site):
    site.module("aigw_replaced", provider_plugin("replaced"))
    site.distribution("aigw-replaced", "1.0", {"replaced": "aigw_replaced"})
    assert "replaced" not in load(["*"], environ={"AIGW_PLUGINS": ""}).loaded()
    assert "replaced" in load([], environ={"AIGW_PLUGINS": "replaced"}).loaded()


def test_aigw_disable_plugins_wins_over_the_allow_list(site):
    site.module("aigw_unwanted", "raise RuntimeError('imported')\n")
    site.distribution("aigw-unwanted", "1.0", {"unwanted": "aigw_unwanted"})
    pm = load(["*", "unwanted"], environ={"AIGW_DISABLE_PLUGINS": "unwanted"})
    assert "unwanted" not in pm.loaded()
    assert "aigw_unwanted" not in sys.modules


def test_enabling_a_plugin_that_is_not_installed_stops_start_up_naming_it():
    with pytest.raises(PluginError, match="'no-such-plugin' not installed"):
        load(["no-such-plugin"])


def test_entry_point_plugins_load_in_name_order_after_the_builtins(site):
    for name in ("zeta", "alpha"):
        site.module(f"aigw_{name}", provider_plugin(name))
        site.distribution(f"aigw-{name}", "1.0", {name: f"aigw_{name}"})
    builtin = site.module("first_builtin", provider_plugin("b"))
    loaded = load(["alpha", "zeta"], builtins=(builtin,)).loaded()
    assert loaded[0] == "first_builtin"
    assert loaded.index("alpha") < loaded.index("zeta")


def test_aigw_trace_plugins_prints_every_hook_call_to_stderr(capsys):
    load([], builtins=BUILTIN_PLUGINS, environ={"AIGW_TRACE_PLUGINS": "1"}).registries()
    assert "register_providers" in capsys.readouterr().err
