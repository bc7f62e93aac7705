"""cf-aig-* options resolve with Cloudflare's precedence and limits."""

import pytest

from aigw.errors import BadRequest
from aigw.options import RetryPolicy, cache_policy, merged_headers, retry_policy


def test_gateway_defaults_apply_without_headers():
    assert retry_policy(RetryPolicy(2, 100, "linear", 0), {}) == RetryPolicy(2, 100, "linear", 0)


def test_headers_override_gateway_defaults():
    p = retry_policy(RetryPolicy(), {"cf-aig-max-attempts": "3", "cf-aig-retry-delay": "250", "cf-aig-backoff": "Exponential", "cf-aig-request-timeout": "1500"})
    assert p == RetryPolicy(3, 250, "exponential", 1500)


def test_step_config_overrides_headers():
    p = retry_policy(RetryPolicy(), {"cf-aig-max-attempts": "3"}, {"maxAttempts": 5, "requestTimeout": 1000})
    assert (p.max_attempts, p.request_timeout_ms) == (5, 1000)


def test_step_headers_override_request_headers():
    assert merged_headers({"cf-aig-cache-ttl": "3600"}, {"cf-aig-cache-ttl": "0"})["cf-aig-cache-ttl"] == "0"


@pytest.mark.parametrize("header,value", [("cf-aig-max-attempts", "6"), ("cf-aig-max-attempts", "0"), ("cf-aig-retry-delay", "5001"), ("cf-aig-backoff", "random"), ("cf-aig-max-attempts", "two")])
def test_values_outside_cloudflares_limits_are_refused_by_name(header, value):
    with pytest.raises(BadRequest, match=header):
        retry_policy(RetryPolicy(), {header: value})


def test_unknown_step_config_keys_are_refused():
    with pytest.raises(BadRequest, match="timeout"):
        retry_policy(RetryPolicy(), {}, {"timeout": 5})


@pytest.mark.parametrize("backoff,delays", [("constant", [0, 0.1, 0.1, 0.1]), ("linear", [0, 0.1, 0.2, 0.3]), ("exponential", [0, 0.1, 0.2, 0.4])])
def test_backoff_shapes(backoff, delays):
    p = RetryPolicy(max_attempts=4, delay_ms=100, backoff=backoff)
    assert [p.delay_before(a) for a in (1, 2, 3, 4)] == pytest.approx(delays)


def test_cache_ttl_limits():
    assert cache_policy(0, {"cf-aig-cache-ttl": "3600"}).ttl == 3600
    with pytest.raises(BadRequest, match="cf-aig-cache-ttl"):
        cache_policy(0, {"cf-aig-cache-ttl": "30"})


def test_old_header_names_still_work():
    policy = cache_policy(0, {"cf-cache-ttl": "120", "cf-skip-cache": "true"})
    assert (policy.ttl, policy.skip) == (120, True)


def test_a_cache_key_caches_even_when_caching_is_off():
    policy = cache_policy(0, {"cf-aig-cache-key": "k1"})
    assert (policy.key, policy.ttl) == ("k1", 300)


def test_the_stream_idle_timeout_comes_from_header_or_step_config():
    assert retry_policy(RetryPolicy(), {"cf-aig-stream-idle-timeout": "2500"}).stream_idle_timeout_ms == 2500
    p = retry_policy(RetryPolicy(stream_idle_timeout_ms=9), {"cf-aig-stream-idle-timeout": "2500"}, {"streamIdleTimeout": 700})
    assert p.stream_idle_timeout_ms == 700
    assert retry_policy(RetryPolicy(stream_idle_timeout_ms=9), {}).stream_idle_timeout_ms == 9


def test_a_bad_stream_idle_timeout_names_its_source():
    with pytest.raises(BadRequest, match="config.streamIdleTimeout"):
        retry_policy(RetryPolicy(), {}, {"streamIdleTimeout": "x"})
