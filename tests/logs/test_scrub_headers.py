"""scrub_headers: credentials never reach a stored log."""

from aigw.logrecords import is_secret_header, scrub_headers

CREDENTIALS = {
    "Authorization": "Bearer sk-1",
    "x-api-key": "sk-ant",
    "api-key": "azure",
    "x-goog-api-key": "goog",
    "xi-api-key": "eleven",
    "cf-aig-authorization": "Bearer gw",
    "Proxy-Authorization": "Basic x",
    "cookie": "s=1",
    "sec-websocket-protocol": "cf-aig-authorization.tok",
    "x-amz-security-token": "aws",
}


def test_provider_and_gateway_credentials_are_removed_from_a_mapping():
    kept = scrub_headers({**CREDENTIALS, "content-type": "application/json", "anthropic-version": "2023-06-01"})
    assert kept == {"content-type": "application/json", "anthropic-version": "2023-06-01"}


def test_pairs_keep_their_order_and_lose_credentials():
    pairs = [("content-type", "a"), ("X-Api-Key", "k"), ("accept", "b"), ("AUTHORIZATION", "c")]
    assert scrub_headers(pairs) == [("content-type", "a"), ("accept", "b")]


def test_unknown_headers_named_like_credentials_are_removed_too():
    assert is_secret_header("x-newprovider-api-key")
    assert is_secret_header("x-session-token")
    assert not is_secret_header("x-request-id")


def test_scrubbing_does_not_modify_the_input():
    headers = {"authorization": "Bearer sk"}
    scrub_headers(headers)
    assert headers == {"authorization": "Bearer sk"}
