"""Puts the floor in place at start-up when AIGW_FLOOR is 1 or min (floor.py)."""

import floor  # noqa: F401
