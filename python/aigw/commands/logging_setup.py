"""Console logging for the CLI: one concise line per record, time and level first."""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG_LEVELS", "setup_logging"]

LOG_LEVELS = ("debug", "info", "warning", "error")
_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str = "info") -> None:
    """Send log records at `level` and above to stderr as `2026-11-24 03:16:06 INFO    aigw.serve: ...`.

    Replaces handlers installed by an earlier call, so it is safe to call once per command."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT, "%Y-%m-%d %H:%M:%S"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
