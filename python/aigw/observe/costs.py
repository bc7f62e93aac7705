"""What a request cost, in USD: its tokens times its model's prices.

Prices come from the table shipped with aigw (`aigw/data/prices.json`: source and date inside),
overridden per model by the config (`[costs.models."provider/model"]`, USD per million tokens),
and per request by the client's `cf-aig-custom-cost` (USD per token, Cloudflare's shape).

The rules, in order:
  * a cache hit cost nothing upstream: 0;
  * the client's custom prices, when it sent them;
  * the model's prices, looked up as "provider/model", then without a date suffix
    ("gpt-4o-2024-08-06" → "gpt-4o", "claude-sonnet-4-5-20250929" → "claude-sonnet-4-5");
  * otherwise the cost is unknown: None, never 0 (a sum over requests must not pretend).
A request without reported usage has an unknown cost too. Cached-input and cache-write prices
are in the table for when providers' usage reports those tokens apart (Usage has only
tokens in/out today), so input tokens are priced at the input price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any, Mapping

import orjson

from aigw._codec import RecordObservers
from aigw.types import LogRecord

__all__ = ["CostMeter", "Price", "PriceTable", "load_builtin_prices"]

_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
PER_MILLION = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token (not per million) for each kind of token; None: no such price."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    cache_write: float | None = None

    @classmethod
    def per_million(cls, prices: Any) -> Price:
        """From a mapping or an object with input/output/cached_input/cache_write per 1M."""
        get = prices.get if isinstance(prices, Mapping) else lambda k: getattr(prices, k, None)
        return cls(*(None if get(k) is None else float(get(k)) / PER_MILLION for k in ("input", "output", "cached_input", "cache_write")))


def load_builtin_prices() -> dict[str, Price]:
    """The shipped price table, "provider/model" → Price."""
    raw = orjson.loads(resources.files("aigw").joinpath("data/prices.json").read_bytes())
    return {name: Price.per_million(p) for name, p in raw["models"].items()}


class PriceTable:
    """Prices by "provider/model" (the shipped table under the config's overrides)."""

    def __init__(self, prices: Mapping[str, Price]) -> None:
        self._prices = dict(prices)
        self._found: dict[tuple[str | None, str | None], Price | None] = {}

    @classmethod
    def from_settings(cls, costs: Any) -> PriceTable:
        """From `Settings.costs` (aigw.config.CostsSettings)."""
        prices = load_builtin_prices() if costs.builtin_prices else {}
        prices.update({name: Price.per_million(p) for name, p in costs.models.items()})
        return cls(prices)

    def price(self, provider: str | None, model: str | None) -> Price | None:
        """The price of `model` at `provider`, or None when it is not in the table."""
        key = (provider, model)
        try:
            return self._found[key]
        except KeyError:
            pass
        found = None
        if provider and model:
            found = self._prices.get(f"{provider}/{model}")
            if found is None:
                found = self._prices.get(f"{provider}/{_DATE_SUFFIX.sub('', model)}")
        if len(self._found) < 10_000:  # the model is the client's text: bound the memo
            self._found[key] = found
        return found


def cost_of(record: LogRecord, table: PriceTable) -> float | None:
    """The USD cost of `record` under the rules in the module docstring."""
    if record.cache_status == "HIT":
        return 0.0
    tokens_in, tokens_out = record.tokens_in, record.tokens_out
    if tokens_in is None and tokens_out is None:
        return None
    if record.custom_cost is not None:
        rate_in, rate_out = record.custom_cost
    else:
        price = table.price(record.provider, record.model)
        if price is None:
            return None
        rate_in, rate_out = price.input, price.output
        if (tokens_in and rate_in is None) or (tokens_out and rate_out is None):
            return None  # tokens of a kind the table has no price for
    return (tokens_in or 0) * (rate_in or 0.0) + (tokens_out or 0) * (rate_out or 0.0)


#: The observers' native half, reading LogRecords from their slots.
_RECORDS = RecordObservers(LogRecord)


class CostMeter:
    """The observer that prices every finished request (`record.cost`); it runs first, so the
    metrics, traces and log row all see the cost.

    `observe(record)` sets `record.cost` (None when unknown): `cost_of` in one native call, a
    builtin function bound to the table here, so the request path runs no Python frame for it."""

    __slots__ = ("table", "observe")

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self.observe = _RECORDS.cost_observer(table._found, table.price)
