"""The plugin API's shape: documented specs, the facade as pluggy's only caller, a cheap import."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pluggy
import pytest

import aigw
from aigw import hookspecs

ROOT = Path(__file__).resolve().parents[2]
SPECS = [name for name, fn in vars(hookspecs).items() if callable(fn) and hasattr(fn, "aigw_spec")]


def test_the_specs_are_the_documented_set():
    assert sorted(SPECS) == sorted(
        [
            "register_providers", "register_auth_backends", "register_loggers", "register_caches",
            "register_rate_limiters", "register_routes", "register_commands",
            "gateway_startup", "gateway_shutdown",
        ]
    )


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_documents_when_how_often_and_what_to_return(name):
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert re.search(r"[Cc]alled once", doc), "when and how often"
    assert "collect-all" in doc, "the combine rule"
    assert re.search(r"[Rr]eturn", doc), "what to return"


@pytest.mark.parametrize("name", SPECS)
def test_every_spec_parameter_is_annotated(name):
    signature = inspect.signature(getattr(hookspecs, name))
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())


def test_pluggy_hooks_are_called_only_from_plugins_py():
    offenders = []
    for folder in ("python", "plugins"):
        for path in (ROOT / folder).rglob("*.py"):
            if path == ROOT / "python/aigw/plugins.py":
                continue
            text = path.read_text(encoding="utf-8")
            if re.search(r"\.hook\.\w|subset_hook_caller", text):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_hookimpl_is_the_aigw_marker():
    assert isinstance(aigw.hookimpl, pluggy.HookimplMarker)
    assert aigw.hookimpl.project_name == "aigw"


def test_every_public_name_resolves():
    assert all(getattr(aigw, name) is not None for name in aigw.__all__)


def test_importing_aigw_imports_no_plugin_pluggy_or_package_metadata():
    script = (
        "import sys, aigw\n"
        "heavy = [m for m in sys.modules if m.startswith(('aigw.builtins', 'aigw.plugins', 'aigw_', 'pluggy',"
        " 'importlib.metadata', 'click', 'orjson'))]\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
