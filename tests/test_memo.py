"""`aigw.memo.Memo`: a remembered pure function read by subscript."""

from __future__ import annotations

import pytest

from aigw.memo import Memo


def test_a_key_is_computed_once_then_read():
    calls = []
    memo = Memo(lambda key: calls.append(key) or key.upper(), 8)
    assert (memo["a"], memo["a"], memo["b"]) == ("A", "A", "B")
    assert calls == ["a", "b"]


def test_an_answer_that_is_falsy_or_none_is_remembered_too():
    calls = []
    memo = Memo(lambda key: calls.append(key), 8)
    assert memo["x"] is None and memo["x"] is None
    assert calls == ["x"]


def test_past_maxsize_keys_are_computed_every_time_and_not_kept():
    calls = []
    memo = Memo(lambda key: calls.append(key) or key, 2)
    for key in ["a", "b", "c", "c", "a"]:
        assert memo[key] == key
    assert calls == ["a", "b", "c", "c"] and len(memo) == 2


def test_what_compute_raises_propagates_and_is_not_remembered():
    def compute(key: str) -> str:
        raise ValueError(key)

    memo = Memo(compute, 8)
    for _ in range(2):
        with pytest.raises(ValueError):
            memo["bad"]
    assert len(memo) == 0
