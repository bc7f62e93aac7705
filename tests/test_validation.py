"""Client headers and endpoints are checked before any byte reaches an upstream (aigw.validation):
RFC 9110 names and values, no gateway-owned header, no way out of the provider's base path.
Every refusal is a 400/2010 naming the field and never repeating a value."""

from __future__ import annotations

import pytest

from aigw.errors import BadRequest
from aigw.validation import check_endpoint, checked_step_headers, header_fields

SECRET = "sk-live-0123456789abcdef"


def refusal(headers) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        header_fields(headers, "step 0")
    assert info.value.status == 400 and info.value.code == 2010
    assert info.value.message.startswith("step 0: ")
    return info.value


@pytest.mark.parametrize(
    "name",
    ["transfer-encoding ", "content-length\t", " host", "x-a: injected", "x\0a", "x-caf\u00e9", "x-\u20ac", "x y", "(x)"],
)
def test_a_header_name_that_is_not_a_token_is_refused(name):
    err = refusal({name: "v"})
    assert "header name" in err.message and "not valid" in err.message


def test_an_empty_header_name_is_refused():
    assert "empty" in refusal({"": "x"}).message


def test_a_bad_header_name_is_shown_only_up_to_the_bad_character():
    # A client that pasted "Authorization: Bearer <key>" as a name must not see its key echoed.
    err = refusal({f"Authorization: Bearer {SECRET}": "v"})
    assert SECRET not in err.message and "'Authorization'" in err.message and "':'" in err.message


@pytest.mark.parametrize(
    "name",
    ["Host", "HOST", "content-length", "Transfer-Encoding", "connection", "Upgrade", "TE", "trailer",
     "Keep-Alive", "Expect", "Proxy-Authorization", "proxy-connection", "Proxy-Anything"],
)
def test_headers_the_gateway_owns_are_refused_in_any_case(name):
    err = refusal({name: "x"})
    assert repr(name) in err.message and "set by the gateway" in err.message


@pytest.mark.parametrize(
    "value",
    [f"Bearer {SECRET}\u2028", f"Bearer {SECRET}\u20ac", f"Bearer {SECRET}\r\nX-Injected: 1", f"Bearer {SECRET}\n",
     f"Bearer {SECRET}\0", f"Bearer {SECRET}\x7f", f"Bearer {SECRET}\x1b"],
)
def test_a_header_value_with_a_forbidden_character_is_refused_without_repeating_it(value):
    err = refusal({"Authorization": value})
    assert "'Authorization'" in err.message and "position" in err.message
    assert SECRET not in err.message and SECRET not in repr(err) and SECRET not in str(err.args)


@pytest.mark.parametrize("value", [None, ["a"], {"a": "b"}])
def test_a_header_value_that_is_not_a_string_number_or_boolean_is_refused(value):
    assert "must be a string" in refusal({"x-a": value}).message


def test_valid_headers_come_back_with_lowercase_names_and_string_values():
    headers = {"X-Title": "caf\u00e9 \tau lait", "cf-aig-max-attempts": 3, "cf-aig-skip-cache": True, "X-Pad": "  v  "}
    assert header_fields(headers, "step 0") == {
        "x-title": "caf\u00e9 \tau lait",  # obs-text, SP and HTAB are field-value characters
        "cf-aig-max-attempts": "3",
        "cf-aig-skip-cache": "true",
        "x-pad": "v",
    }


def test_step_headers_override_request_headers_after_both_are_checked():
    merged = checked_step_headers({"cf-aig-cache-ttl": "3600"}, {"CF-AIG-Cache-TTL": "0"}, "chat/completions", "step 1")
    assert merged == {"cf-aig-cache-ttl": "0"}
    with pytest.raises(BadRequest, match="step 1 \\(request headers\\)"):
        checked_step_headers({"x-bad\0": "1"}, {}, "chat/completions", "step 1")


@pytest.mark.parametrize(
    "endpoint",
    ["../../x", "..", ".", "x/../../y", "x/./y", "%2e%2e/x", "%2E%2E/x", "x/%2e%2E/y", ".%2e/x", "%252e%252e/x",
     "x%2f..%2fy", "x%5c..%5cy", "v1/chat/completions/.."],
)
def test_an_endpoint_with_dot_segments_is_refused(endpoint):
    with pytest.raises(BadRequest, match="'.' or '..' path segments") as info:
        check_endpoint(endpoint, "step 0")
    assert info.value.code == 2010


@pytest.mark.parametrize(
    "endpoint",
    ["chat completions", "chat\0completions", "chat\x7f", "caf\u00e9", "x\\..\\y", "a\tb", "x#frag", "x%zz", "x%2"],
)
def test_an_endpoint_that_is_not_a_clean_uri_path_is_refused(endpoint):
    with pytest.raises(BadRequest, match="step 0: endpoint has") as info:
        check_endpoint(endpoint, "step 0")
    assert info.value.code == 2010


def test_an_endpoint_is_never_repeated_in_its_error():
    with pytest.raises(BadRequest) as info:
        check_endpoint(f"models/x:generateContent?key={SECRET} ", "step 0")
    assert SECRET not in info.value.message


@pytest.mark.parametrize(
    "endpoint",
    ["chat/completions", "v1/messages", "@cf/meta/llama-3.1-8b-instruct", "v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
     "models/a...b", "files/..x", "x/.well/y", "responses?x=../y", "deployments/my%20model/chat"],
)
def test_ordinary_endpoints_pass(endpoint):
    check_endpoint(endpoint, "step 0")
