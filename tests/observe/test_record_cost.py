"""The cost observer's native call (`_codec.RecordObservers.cost`) gives what the rules in
aigw.observe.costs give (`cost_of`, the reference), for any record: hits, missing usage,
custom prices, prices the table has or lacks, and numbers of any kind; read from a LogRecord's
slots or, for any other object, through getattr."""

from __future__ import annotations

import math
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw._codec import RecordObservers
from aigw.observe.costs import CostMeter, Price, PriceTable, cost_of
from aigw.types import LogRecord

TABLE = {
    "openai/gpt-4o": Price(2.5e-6, 1e-5),
    "openai/input-only": Price(1e-6, None),
    "openai/free": Price(0.0, -0.0),
    "anthropic/claude-sonnet-4-5": Price(3e-6, 1.5e-5),
}

tokens = st.one_of(st.none(), st.just(0), st.integers(0, 10**6), st.integers(2**53, 2**70))
rates = st.one_of(st.none(), st.floats(allow_nan=True), st.integers(0, 3), st.just(-0.0))
models = st.sampled_from(["gpt-4o", "gpt-4o-2024-08-06", "input-only", "free", "claude-sonnet-4-5", "unknown", None])


@st.composite
def records(draw) -> LogRecord:
    return LogRecord(
        log_id="l", created_at=0.0, gateway="default", request_type="universal",
        provider=draw(st.sampled_from(["openai", "anthropic", "nobody", None])), model=draw(models),
        status=200, success=True, cache_status=draw(st.sampled_from([None, "MISS", "HIT"])),
        tokens_in=draw(tokens), tokens_out=draw(tokens),
        custom_cost=draw(st.one_of(st.none(), st.tuples(rates, rates))),
    )  # fmt: skip


record_cost = RecordObservers(LogRecord).cost


class SubRecord(LogRecord):
    """A LogRecord subclass: not the class the observers read slots of."""


def record(**fields) -> LogRecord:
    return LogRecord(**{"log_id": "l", "created_at": 0.0, "gateway": "default", "request_type": "universal", **fields})


def same(a: object, b: object) -> bool:
    """Equal values of the same type (NaN equal to NaN, -0.0 apart from 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    return a == b


@given(records())
def test_the_native_cost_is_cost_of_for_any_record(record):
    table = PriceTable(TABLE)
    expected = cost_of(record, PriceTable(TABLE))
    assert same(record_cost(record, table._found, table.price), expected)


@given(st.lists(records(), max_size=8))
def test_the_native_cost_reads_the_tables_memo_as_price_does(batch):
    table = PriceTable(TABLE)
    for record in batch:  # the memo fills as it goes: later records read it
        assert same(record_cost(record, table._found, table.price), cost_of(record, PriceTable(TABLE)))


def test_a_memo_entry_is_used_without_asking_the_table():
    asked = []

    def price(provider, model):
        asked.append((provider, model))
        return None

    one = record(provider="p", model="m", tokens_in=10, tokens_out=1)
    assert record_cost(one, {("p", "m"): Price(0.5, 1.0)}, price) == 6.0
    assert asked == []
    assert record_cost(one, {}, price) is None and asked == [("p", "m")]


def test_a_custom_cost_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError):
        record_cost(record(tokens_in=1, custom_cost=(1.0, 2.0, 3.0)), {}, PriceTable({}).price)


def test_the_cost_meter_sets_the_records_cost():
    one = record(provider="openai", model="gpt-4o-2024-08-06", tokens_in=1000, tokens_out=100)
    CostMeter(PriceTable(TABLE)).observe(one)
    assert one.cost == pytest.approx(1000 * 2.5e-6 + 100 * 1e-5)


@given(records())
def test_a_stand_in_or_a_subclass_is_read_through_getattr_to_the_same_cost(one):
    table = PriceTable(TABLE)
    expected = record_cost(one, table._found, table.price)
    fields = {name: getattr(one, name) for name in LogRecord.__slots__}
    for other in (types.SimpleNamespace(**fields), SubRecord(**{f: fields[f] for f in LogRecord.__dataclass_fields__})):
        assert same(record_cost(other, table._found, table.price), expected)


def test_a_record_without_a_field_is_an_attribute_error():
    with pytest.raises(AttributeError):
        record_cost(types.SimpleNamespace(cache_status="MISS", tokens_in=1), {}, PriceTable({}).price)
