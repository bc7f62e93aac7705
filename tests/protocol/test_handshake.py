"""The opening handshake (RFC 6455 §4.2) over a parsed request: accept/reject matrix,
subprotocols, permessage-deflate negotiation, the 101 response."""

import pytest

from aigw.protocol.handshake import (
    accept_key,
    accept_response,
    is_websocket_upgrade,
    negotiate_extensions,
    offered_subprotocols,
    select_subprotocol,
    validate_upgrade,
)
from aigw.protocol.http11 import Headers, HttpError, Request, RequestReader

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's sample nonce


def upgrade_request(method="GET", version="1.1", drop=(), **extra) -> Request:
    headers = {
        "host": "example",
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-key": KEY,
        "sec-websocket-version": "13",
    }
    for name in drop:
        del headers[name]
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    return Request(method, "/chat?x=1", version, Headers(raw))


def test_a_valid_upgrade_is_accepted_and_returns_the_key():
    assert validate_upgrade(upgrade_request()) == KEY


def test_accept_key_matches_the_rfc_example():
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_tokens_are_case_insensitive_lists():
    request = upgrade_request(upgrade="h2c, WebSocket", connection="keep-alive, UPGRADE")
    assert is_websocket_upgrade(request)
    assert validate_upgrade(request) == KEY


def test_a_request_without_upgrade_takes_the_http_path():
    assert not is_websocket_upgrade(upgrade_request(drop=["upgrade"]))


def test_headers_not_in_the_parsers_list_are_scanned_alike():
    upgrade, plain = upgrade_request(), upgrade_request(drop=["upgrade"])
    assert is_websocket_upgrade(Request("GET", "/", "1.1", Headers(tuple(upgrade.headers.raw))))
    assert not is_websocket_upgrade(Request("GET", "/", "1.1", Headers(tuple(plain.headers.raw))))


def test_the_upgrade_check_of_a_parsed_plain_request_builds_no_name_index():
    reader = RequestReader()
    reader.feed(b"GET /chat HTTP/1.1\r\nHost: example\r\nConnection: keep-alive\r\n\r\n")
    request = reader.next_request()
    assert not is_websocket_upgrade(request) and request.headers._map is None


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        (dict(sec_websocket_version="8"), 426),
        (dict(drop=["sec-websocket-version"]), 426),
        (dict(drop=["sec-websocket-key"]), 400),
        (dict(sec_websocket_key="not base64!"), 400),
        (dict(sec_websocket_key="c2hvcnQ="), 400),  # base64 of 5 bytes
        (dict(method="POST"), 405),
        (dict(version="1.0"), 400),
        (dict(connection="keep-alive"), 400),
    ],
    ids=["version-8", "no-version", "no-key", "key-not-base64", "key-not-16-bytes", "post", "http-1.0",
         "no-connection-upgrade"],
)
def test_bad_upgrades_are_rejected_with_their_status(request_kwargs, status):
    with pytest.raises(HttpError) as info:
        validate_upgrade(upgrade_request(**request_kwargs))
    assert info.value.status == status


def test_426_names_the_supported_version():
    with pytest.raises(HttpError) as info:
        validate_upgrade(upgrade_request(sec_websocket_version="8"))
    assert ("sec-websocket-version", "13") in info.value.headers


def test_offered_subprotocols_keep_the_clients_order():
    request = upgrade_request(sec_websocket_protocol="chat.v2, chat.v1")
    assert offered_subprotocols(request) == ["chat.v2", "chat.v1"]


def test_server_picks_its_preferred_subprotocol_among_the_offered():
    assert select_subprotocol(["b", "a"], ["a", "b"]) == "a"


def test_no_common_subprotocol_selects_none():
    assert select_subprotocol(["x"], ["a"]) is None


def test_deflate_is_negotiated_when_offered_and_enabled():
    request = upgrade_request(sec_websocket_extensions="permessage-deflate; client_max_window_bits")
    header, params = negotiate_extensions(request, deflate=True)
    assert header.startswith("permessage-deflate")
    assert params is not None


def test_deflate_is_not_negotiated_when_disabled():
    request = upgrade_request(sec_websocket_extensions="permessage-deflate")
    assert negotiate_extensions(request, deflate=False) == (None, None)


def test_unknown_extensions_are_declined():
    request = upgrade_request(sec_websocket_extensions="x-unknown")
    assert negotiate_extensions(request, deflate=True) == (None, None)


def test_the_101_response_carries_accept_protocol_and_extensions():
    response = accept_response(KEY, subprotocol="chat", extensions="permessage-deflate")
    head = response.decode()
    assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n")
    assert "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in head
    assert "sec-websocket-protocol: chat\r\n" in head
    assert "sec-websocket-extensions: permessage-deflate\r\n" in head
    assert head.endswith("\r\n\r\n")
