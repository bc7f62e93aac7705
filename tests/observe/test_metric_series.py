"""GatewayMetrics' counting of one finished request, record in, exposition out (no gateway):
histogram buckets hold values up to and including their bound, time to first token is counted
for streams only, retries and fallbacks come from the attempts, a 429 with no attempt is the
gateway's own refusal, and label sets past the cap are folded into model="other"."""

from __future__ import annotations

import math

from aigw.observe.metrics import GatewayMetrics
from aigw.types import Attempt, LogRecord


def record(**fields) -> LogRecord:
    base = dict(log_id="l", created_at=0.0, gateway="default", request_type="websocket", provider="openai",
                model="gpt-4o-mini", status=200, success=True, duration_ms=30.0)  # fmt: skip
    return LogRecord(**{**base, **fields})


def samples(metrics: GatewayMetrics) -> dict[tuple, float]:
    """(sample name, frozenset of labels) -> value, for every sample collected."""
    return {(s.name, frozenset(s.labels.items())): s.value for family in metrics.collect() for s in family.samples}


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float:
    return sum(v for (n, ls), v in samples(metrics).items() if n == name and set(labels.items()) <= ls)


def test_a_value_on_a_bucket_bound_is_counted_in_that_bucket():
    m = GatewayMetrics()
    m.observe(record(tokens_in=16, tokens_out=17))
    assert value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="input", le="4.0") == 0
    assert value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="input", le="16.0") == 1
    assert value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="output", le="16.0") == 0
    assert value(m, "gen_ai_client_token_usage_bucket", gen_ai_token_type="output", le="64.0") == 1
    assert value(m, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") == 17


def test_durations_are_counted_in_seconds_with_their_sum():
    m = GatewayMetrics()
    m.observe(record(duration_ms=30.0))
    m.observe(record(duration_ms=500.0))
    assert value(m, "gen_ai_server_request_duration_seconds_bucket", le="0.04") == 1
    assert value(m, "gen_ai_server_request_duration_seconds_bucket", le="+Inf") == 2
    assert math.isclose(value(m, "gen_ai_server_request_duration_seconds_sum"), 0.53)
    assert value(m, "aigw_requests_total") == 2


def test_time_to_first_token_is_counted_for_streams_only():
    m = GatewayMetrics()
    m.observe(record(stream=False, ttfb_ms=5.0))
    assert value(m, "gen_ai_server_time_to_first_token_seconds_count") == 0
    m.observe(record(stream=True, ttfb_ms=5.0))
    m.observe(record(stream=True, ttfb_ms=None))
    assert value(m, "gen_ai_server_time_to_first_token_seconds_count") == 1
    assert value(m, "gen_ai_server_time_to_first_token_seconds_bucket", le="0.005") == 1


def test_retries_and_fallbacks_come_from_the_attempts():
    m = GatewayMetrics()
    attempts = [Attempt(0, 1, "openai", "a", 500), Attempt(0, 2, "openai", "a", 500), Attempt(1, 1, "anthropic", "b", 500),
                Attempt(2, 1, "openai", "c", 200)]  # fmt: skip
    m.observe(record(attempts=attempts, step=2))
    m.observe(record(attempts=[Attempt(0, 1, "openai", "a", 200)]))
    assert value(m, "aigw_retries_total") == 1
    assert value(m, "aigw_fallbacks_total") == 2


def test_a_429_without_an_attempt_is_the_gateways_own_refusal():
    m = GatewayMetrics()
    m.observe(record(status=429, success=False))
    m.observe(record(status=429, success=False, attempts=[Attempt(0, 1, "openai", "a", 429)]))  # the provider's
    assert value(m, "aigw_rate_limited_total", gateway="default", surface="websocket") == 1


def test_cost_adds_up_and_an_unknown_cost_adds_nothing():
    m = GatewayMetrics()
    m.observe(record(cost=0.25))
    m.observe(record(cost=None))
    m.observe(record(cost=0.5))
    assert value(m, "aigw_cost_usd_total") == 0.75


def test_label_sets_past_the_cap_are_counted_as_model_other():
    m = GatewayMetrics(max_series=2)
    for model in ("a", "b", "c", "d"):
        m.observe(record(model=model))
    assert value(m, "aigw_requests_total", model="other") == 2
    assert value(m, "aigw_requests_total") == 4


def test_each_label_of_a_record_picks_its_own_series_and_equal_labels_share_one():
    m = GatewayMetrics()
    variants = [
        {}, {"gateway": "g2"}, {"request_type": "provider"}, {"provider": "anthropic"}, {"model": "m2"},
        {"status": 500}, {"success": False}, {"cache_status": "HIT"},
    ]  # fmt: skip
    for fields in variants:
        m.observe(record(**fields))
    m.observe(record())
    counts = sorted(s.requests for s in m._series.values())
    assert counts == [1] * 7 + [2]
    r = record()
    key = (r.gateway, r.request_type, r.provider, r.model, r.status, r.success, r.cache_status)
    assert m._series[key].requests == 2  # the first variant's labels, counted twice


def test_a_series_made_for_a_new_label_set_counts_the_record_that_made_it():
    m = GatewayMetrics()
    m.observe(record(model="fresh"))
    assert value(m, "aigw_requests_total", model="fresh") == 1
    assert value(m, "aigw_requests_total") == 1


def test_a_stand_in_record_is_counted_as_the_logrecord_it_copies():
    """The observers read a LogRecord from its slots; any other object through getattr, alike."""
    import types

    one = record(tokens_in=16, tokens_out=17, stream=True, ttfb_ms=5.0, cost=0.25, attempts=[Attempt(0, 1, "openai", "m", 500), Attempt(0, 2, "openai", "m", 200)])
    stand_in = types.SimpleNamespace(**{name: getattr(one, name) for name in LogRecord.__slots__})
    a, b = GatewayMetrics(), GatewayMetrics()
    a.observe(one)
    b.observe(stand_in)
    assert samples(a) == samples(b) and value(a, "aigw_requests_total") == 1
