"""The pipeline's "may this request set an option" test: any header name starting `cf-`."""

from hypothesis import given
from hypothesis import strategies as st

from aigw.step_plans import _names_options
from aigw.validation import CheckedHeaders

NAMES = st.sampled_from(["authorization", "cf-aig-cache-ttl", "cf-cache-ttl", "cf-", "c", "x-cf-aig", "content-type", "cfa"])


@given(st.dictionaries(NAMES | st.text(max_size=6), st.text(max_size=3), max_size=8))
def test_options_are_named_exactly_when_a_name_starts_cf(headers):
    expected = any(name.startswith("cf-") for name in headers)
    assert _names_options(headers) is expected
    assert _names_options(CheckedHeaders(headers)) is expected  # the dict subclass the doors pass
