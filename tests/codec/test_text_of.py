"""Strings read in place (`text_of` in python.rs: a compact ASCII str's bytes without a call
into CPython) read as Python reads them: ASCII, any other text, str subclasses (not compact),
and lone surrogates refused as UnicodeEncodeError, as before."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aigw import _codec


class Name(str):
    """A str subclass: CPython stores it apart from its header (not compact)."""


names = st.one_of(st.text(max_size=12), st.text(st.characters(max_codepoint=0x7F), max_size=12))


@given(st.lists(names, max_size=6), st.text(max_size=3), st.booleans())
def test_names_are_read_as_python_reads_them(keys, prefix, subclass):
    headers = {(Name(k) if subclass else k): "v" for k in keys}
    assert _codec.any_name_starts(headers, prefix) == any(k.startswith(prefix) for k in headers)


def test_a_lone_surrogate_in_a_name_is_a_unicode_error():
    with pytest.raises(UnicodeEncodeError):
        _codec.any_name_starts({"\ud800x": "v"}, "cf-")


@pytest.mark.parametrize("name", ["cf-aig-x", "CF-aig-x", "cf-é", "é-cf", Name("cf-aig-x"), "", "c"])
def test_the_prefix_is_found_in_ascii_and_other_text(name):
    assert _codec.any_name_starts({name: "v"}, "cf-") == name.startswith("cf-")
