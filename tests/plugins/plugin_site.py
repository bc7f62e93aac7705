"""Plugin-test helpers: throwaway modules and real (fake-named) distributions on sys.path, and
the check that the aigw-echo distribution is installed."""

from __future__ import annotations

import importlib
import textwrap
from importlib import metadata
from pathlib import Path

import pytest

def echo_installed() -> bool:
    return any(ep.value == "aigw_echo" for ep in metadata.entry_points(group="aigw", name="echo"))

requires_echo = pytest.mark.skipif(
    not echo_installed(),
    reason="aigw-echo is not installed: run `pip install ./plugins/aigw-echo` to test the entry-point path",
)

class Site:
    """Writes modules and `.dist-info` directories that importlib finds like installed ones."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def module(self, name: str, source: str) -> str:
        """Write module `name` (dotted names become packages) and return its name."""
        parts = name.split(".")
        folder = self.root.joinpath(*parts[:-1])
        for depth in range(1, len(parts)):
            init = self.root.joinpath(*parts[:depth], "__init__.py")
            init.parent.mkdir(parents=True, exist_ok=True)
            init.touch()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(source))
        importlib.invalidate_caches()
        return name

    def distribution(self, name: str, version: str, entry_points: dict[str, str]) -> None:
        """An installed distribution `name` declaring `entry_points` in the aigw group."""
        info = self.root / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        lines = "".join(f"{ep} = {target}\n" for ep, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[aigw]\n{lines}")

PROVIDER_PLUGIN = '''
    from aigw import hookimpl

    @hookimpl
    def register_providers(register):
        register({name!r}, lambda ctx: object())
'''

def provider_plugin(name: str) -> str:
    """Source of a plugin module that registers provider `name`."""
    return PROVIDER_PLUGIN.format(name=name)
