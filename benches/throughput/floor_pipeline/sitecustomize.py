"""Puts the floor in place at start-up when AIGW_FLOOR=1 (floor.py)."""

import floor  # noqa: F401
