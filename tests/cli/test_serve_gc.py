"""`aigw serve` tunes Python's garbage collector for a long-running server (tune_gc), unless
`[server] gc_threshold = 0`."""

from __future__ import annotations

import gc

import pytest

from aigw.commands.serve import tune_gc
from aigw.config import ServerSettings


@pytest.fixture
def restore_gc():
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.unfreeze()
    if frozen:  # the suite freezes its imports after collection (tests/conftest.py): keep that
        gc.freeze()
    gc.set_threshold(*before)


def test_the_young_threshold_is_raised_and_the_start_up_heap_frozen(restore_gc):
    gc.set_threshold(700, 10, 10)
    tune_gc(50_000)
    assert gc.get_threshold() == (50_000, 10, 10)
    assert gc.get_freeze_count() > 0


def test_zero_leaves_the_collector_as_python_set_it(restore_gc):
    gc.set_threshold(700, 10, 10)
    frozen = gc.get_freeze_count()
    tune_gc(0)
    assert gc.get_threshold() == (700, 10, 10) and gc.get_freeze_count() == frozen


def test_the_default_threshold_is_fifty_thousand():
    assert ServerSettings().gc_threshold == 50_000
