"""aigw: a self-hosted AI gateway with a multiplexed WebSocket API.

The public surface lives here; everything else is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("aigw")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0"

__all__ = ["__version__"]
