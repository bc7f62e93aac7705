"""What the observers read from a request's headers (aigw.observe.request_notes): the caller's
trace from W3C `traceparent` or Cloudflare's cf-aig-otel-* headers, and custom costs."""

from __future__ import annotations

import pytest

from aigw.errors import BadRequest
from aigw.observe.request_notes import note_request, parse_custom_cost, parse_traceparent
from aigw.types import LogRecord

TRACE, SPAN = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


def noted(**options: str) -> LogRecord:
    record = LogRecord("id", 0.0, "default", "universal")
    note_request(record, options, "principal-1")
    return record


def test_a_traceparent_gives_the_trace_and_parent_span():
    r = noted(traceparent=f"00-{TRACE}-{SPAN}-01")
    assert (r.trace_id, r.parent_span_id, r.principal) == (TRACE, SPAN, "principal-1")


@pytest.mark.parametrize("bad", [f"ff-{TRACE}-{SPAN}-01", f"00-{'0' * 32}-{SPAN}-01", f"00-{TRACE}-{'0' * 16}-01", f"00-{TRACE}-{SPAN}-01-extra", "garbage"])
def test_an_invalid_traceparent_is_ignored(bad):
    assert parse_traceparent(bad) is None and noted(traceparent=bad).trace_id is None


def test_cloudflare_trace_headers_win_over_traceparent():
    r = noted(**{"cf-aig-otel-trace-id": TRACE.upper(), "cf-aig-otel-parent-span-id": SPAN, "traceparent": f"00-{'1' * 32}-{'2' * 16}-01"})
    assert (r.trace_id, r.parent_span_id) == (TRACE, SPAN)


def test_custom_cost_is_two_rates_per_token():
    assert parse_custom_cost('{"per_token_in": 0.000001, "per_token_out": 2e-6}') == (0.000001, 0.000002)


@pytest.mark.parametrize("bad", ['{"per_token_in": 1}', '{"per_token_in": -1, "per_token_out": 1}', '{"per_token_in": true, "per_token_out": 1}', "[1, 2]", "nope"])
def test_a_malformed_custom_cost_is_a_bad_request(bad):
    with pytest.raises(BadRequest):
        parse_custom_cost(bad)
