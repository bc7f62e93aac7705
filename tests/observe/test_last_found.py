"""The observers remember the last key they found in a dict (`RecordObservers`' last-found
memo): a repeated key is answered without a lookup, and the memo never answers for another
dict, another key, or a key it cannot compare without Python code."""

from __future__ import annotations

import gc
import weakref

import pytest

from aigw._codec import MetricSeries, RecordObservers
from aigw.observe.costs import Price
from aigw.types import LogRecord


def record(**fields) -> LogRecord:
    return LogRecord(**{"log_id": "l", "created_at": 0.0, "gateway": "default", "request_type": "universal",
                        "provider": "openai", "model": "m", "status": 200, "success": True,
                        "cache_status": "MISS", "tokens_in": 10, "tokens_out": 1, "duration_ms": 1.0, **fields})  # fmt: skip


def a_new_str(text: str) -> str:
    """An equal string that is another object (as a parsed request's model is)."""
    return "".join(list(text))


def never_asked(*args):
    raise AssertionError(f"the table was asked for {args}")


def test_an_equal_model_in_a_new_string_finds_the_remembered_price():
    observers = RecordObservers(LogRecord)
    memo = {("openai", "gpt-4o"): Price(0.5, 1.0)}
    first, second = record(model=a_new_str("gpt-4o")), record(model=a_new_str("gpt-4o"))
    assert first.model is not second.model
    assert observers.cost(first, memo, never_asked) == 6.0
    assert observers.cost(second, memo, never_asked) == 6.0


def test_another_memo_with_the_same_key_gives_its_own_price():
    observers = RecordObservers(LogRecord)
    cheap, dear = {("openai", "m"): Price(0.5, 1.0)}, {("openai", "m"): Price(5.0, 10.0)}
    assert observers.cost(record(), cheap, never_asked) == 6.0
    assert observers.cost(record(), dear, never_asked) == 60.0
    assert observers.cost(record(), cheap, never_asked) == 6.0


def test_alternating_models_each_get_their_own_price():
    observers = RecordObservers(LogRecord)
    memo = {("openai", "a"): Price(1.0, 0.0), ("openai", "ab"): Price(2.0, 0.0)}
    for _ in range(3):
        assert observers.cost(record(model="a"), memo, never_asked) == 10.0
        assert observers.cost(record(model=a_new_str("ab")), memo, never_asked) == 20.0


def test_a_key_missing_from_the_memo_after_a_hit_asks_the_table():
    observers = RecordObservers(LogRecord)
    asked = []

    def price(provider, model):
        asked.append((provider, model))
        return None

    memo = {("openai", "m"): Price(0.5, 1.0)}
    assert observers.cost(record(), memo, price) == 6.0
    assert observers.cost(record(provider="anthropic"), memo, price) is None
    assert asked == [("anthropic", "m")]


def test_a_str_subclass_equal_to_the_remembered_model_is_looked_up_as_before():
    class Model(str):
        pass

    observers = RecordObservers(LogRecord)
    memo = {("openai", "m"): Price(0.5, 1.0)}
    assert observers.cost(record(), memo, never_asked) == 6.0
    assert observers.cost(record(model=Model("m")), memo, never_asked) == 6.0


class Metrics:
    """A metrics object's series dict, with the maker a series observer calls on a miss."""

    def __init__(self):
        self.series: dict = {}
        self.made: list[tuple] = []

    def new_series(self, key):
        self.made.append(key)
        found = self.series[key] = MetricSeries(tuple(map(str, key)), [1.0], [1.0], [1.0])
        return found

    def observer(self, observers):
        return observers.series_observer(self.series, weakref.WeakMethod(self.new_series))

    def requests(self):
        return [self.series[key].requests for key in self.made]


def test_a_repeated_label_set_is_counted_in_its_one_series():
    metrics = Metrics()
    observe = metrics.observer(RecordObservers(LogRecord))
    for _ in range(3):
        observe(record(model=a_new_str("m")))
    assert metrics.requests() == [3]


def test_alternating_label_sets_are_each_counted_in_their_own_series():
    metrics = Metrics()
    observe = metrics.observer(RecordObservers(LogRecord))
    for _ in range(2):
        observe(record(status=200))
        observe(record(status=429, success=False))
        observe(record(status=200, cache_status="HIT"))
    assert metrics.requests() == [2, 2, 2]


def test_the_same_labels_in_another_gateways_dict_are_counted_there():
    observers = RecordObservers(LogRecord)
    one, two = Metrics(), Metrics()
    observe_one, observe_two = one.observer(observers), two.observer(observers)
    observe_one(record())
    observe_two(record())
    observe_one(record())
    assert one.requests() == [2] and two.requests() == [1]


def test_a_str_subclass_label_equal_to_the_remembered_one_finds_the_same_series():
    class Provider(str):
        pass

    metrics = Metrics()
    observe = metrics.observer(RecordObservers(LogRecord))
    observe(record())
    observe(record(provider=Provider("openai")))
    assert metrics.requests() == [2]


def test_the_cost_observer_sets_the_records_cost():
    observe = RecordObservers(LogRecord).cost_observer({("openai", "m"): Price(0.5, 1.0)}, never_asked)
    one = record()
    assert observe(one) is None and one.cost == 6.0


def test_the_series_observer_keeps_no_metrics_object_alive():
    metrics = Metrics()
    gone = weakref.ref(metrics)
    observe = RecordObservers(LogRecord).series_observer({}, weakref.WeakMethod(metrics.new_series))
    del metrics
    gc.collect()
    assert gone() is None
    with pytest.raises(ReferenceError):
        observe(record())
