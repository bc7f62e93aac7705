"""The package installs and exposes its extension and command."""

import subprocess
import sys

from aigw import _codec


def test_extension_reports_the_crate_version():
    assert _codec.__version__ == "0.1.0"


def test_aigw_help_runs():
    out = subprocess.run([sys.executable, "-m", "aigw", "--help"], capture_output=True, text=True, check=True)
    assert "aigw" in out.stdout
