"""Hypothesis strategies for the usage readers' property tests: whole answers whose `usage`
holds counts of every JSON type under the names a reader looks for (and some it ignores)."""

from __future__ import annotations

from hypothesis import strategies as st


def answers(usage_keys: list[str], top_keys: list[str], ints: st.SearchStrategy[int]) -> st.SearchStrategy:
    """JSON values shaped like answers: objects with a `usage` of counts named `usage_keys`
    (integers drawn from `ints`, and floats, booleans, strings, null), other objects keyed by
    `top_keys`, and any JSON value."""
    value = st.recursive(st.none() | st.booleans() | ints | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                         lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)  # fmt: skip
    count = st.none() | ints | st.floats(allow_nan=False, allow_infinity=False) | st.booleans() | st.text(max_size=3)
    usage = st.dictionaries(st.sampled_from(usage_keys), count) | value
    with_usage = st.builds(lambda doc, u: {**doc, "usage": u}, st.dictionaries(st.text(max_size=6), value, max_size=4), usage)
    return st.dictionaries(st.sampled_from(top_keys), value) | with_usage | value
